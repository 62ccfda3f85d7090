"""What runs inside the sandboxed interpreter before the program: the audit hook, seccomp, Landlock.

:func:`harness.execution.python.run_python` ships these functions to the child
as source text, so each imports what it uses and touches no module global.
"""

from __future__ import annotations


def _sandbox_main() -> None:
    """Read the program, install the layers, run it as __main__ with a clean traceback."""
    import linecache
    import os
    import sys
    import traceback
    import types

    program_path, denied_exit = sys.argv[1], int(sys.argv[2])
    with open(program_path, encoding="utf-8") as f:
        source = f.read()
    workdir = os.getcwd()
    linecache.cache["<program>"] = (len(source), None, source.splitlines(True), "<program>")
    _install_landlock(workdir)
    _install_seccomp()
    for name in [m for m in sys.modules if m.split(".")[0] in ("ctypes", "_ctypes")]:
        del sys.modules[name]
    main = types.ModuleType("__main__")
    sys.modules["__main__"] = main
    sys.argv = ["<program>"]
    _install_audit_hook(workdir, denied_exit)
    try:
        code = compile(source, "<program>", "exec")
    except (SyntaxError, ValueError) as exc:
        traceback.print_exception(type(exc), exc, None)
        sys.exit(1)
    try:
        exec(code, main.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None  # drop this frame
        # the innermost frames only: formatting a million-frame recursion in full takes seconds
        traceback.print_exception(type(exc), exc, tb, limit=-50)
        sys.exit(1)


def _install_audit_hook(workdir: str, denied_exit: int) -> None:
    """Deny process, signal, network and ctypes events and writes outside ``workdir``."""
    import os
    import sys

    realpath, isabs, join, fspath, fsdecode = (
        os.path.realpath, os.path.isabs, os.path.join, os.fspath, os.fsdecode)
    readlink, write, exit_now, stdout = os.readlink, os.write, os._exit, sys.stdout
    root = realpath(workdir)
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
    denied = frozenset({
        "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
        "subprocess.Popen", "os.kill", "os.killpg", "signal.pthread_kill", "os.link", "os.symlink",
        "resource.setrlimit", "resource.prlimit", "gc.get_objects", "gc.get_referrers",
        "gc.get_referents", "sqlite3.load_extension", "sqlite3.enable_load_extension",
    })
    prefixes = ("socket.", "ctypes.")
    # event -> (index of a path argument, index of its dir_fd argument or None), per path
    path_events = {
        "os.remove": ((0, 1),), "os.rmdir": ((0, 1),), "os.mkdir": ((0, 2),),
        "os.rename": ((0, 2), (1, 3)), "os.chmod": ((0, 2),), "os.chown": ((0, 3),),
        "os.utime": ((0, 3),), "os.truncate": ((0, None),), "os.chflags": ((0, None),),
        "os.lchflags": ((0, None),), "os.setxattr": ((0, None),), "os.removexattr": ((0, None),),
    }

    def inside(path, dir_fd=None):
        try:
            if isinstance(path, int):
                path = readlink(f"/proc/self/fd/{path}")
            path = fsdecode(fspath(path))
            if isinstance(dir_fd, int) and dir_fd >= 0 and not isabs(path):  # -1: no dir_fd
                path = join(readlink(f"/proc/self/fd/{dir_fd}"), path)
            resolved = realpath(path)
        except Exception:
            return False
        return resolved == root or resolved.startswith(root + "/") or resolved == "/dev/null"

    def deny(what):
        try:
            stdout.flush()
        except BaseException:
            pass
        write(2, f"\nsandbox: denied {what}\n".encode("utf-8", "replace"))
        exit_now(denied_exit)

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & write_flags)
            if writes and not isinstance(path, int) and not inside(path):
                deny(f"writing {path!r} (outside the working directory)")
        elif event in denied or event.startswith(prefixes):
            deny(event)
        elif event in path_events:
            for index, fd_index in path_events[event]:
                dir_fd = args[fd_index] if fd_index is not None and fd_index < len(args) else None
                if not inside(args[index], dir_fd):
                    deny(f"{event} on {args[index]!r} (outside the working directory)")

    sys.addaudithook(hook)


def _install_seccomp() -> bool:
    """Kernel refusals that hold for root too: new processes, exec, sockets, signals... (Linux)."""
    import ctypes
    import errno
    import os
    import struct
    import sys

    machine = os.uname().machine
    if not sys.platform.startswith("linux") or machine not in ("x86_64", "aarch64"):
        return False
    x86 = machine == "x86_64"
    # syscall: (x86_64, aarch64); None where the architecture lacks it
    table = {
        "fork": (57, None), "vfork": (58, None), "execve": (59, 221), "execveat": (322, 281),
        "socket": (41, 198), "socketpair": (53, 199), "kill": (62, 129), "tkill": (200, 130),
        "tgkill": (234, 131), "rt_sigqueueinfo": (129, 138), "rt_tgsigqueueinfo": (297, 240),
        "pidfd_send_signal": (424, 424), "pidfd_getfd": (438, 438), "ptrace": (101, 117),
        "process_vm_readv": (310, 270), "process_vm_writev": (311, 271), "setrlimit": (160, 164),
        "mknod": (133, None), "mknodat": (259, 33), "mount": (165, 40), "umount2": (166, 39),
        "pivot_root": (155, 41), "chroot": (161, 51), "unshare": (272, 97), "setns": (308, 268),
        "open_tree": (428, 428), "move_mount": (429, 429), "fsopen": (430, 430),
        "fsconfig": (431, 431), "fsmount": (432, 432), "mount_setattr": (442, 442),
        "reboot": (169, 142), "kexec_load": (246, 104), "kexec_file_load": (320, 294),
        "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
        "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
        "keyctl": (250, 219), "add_key": (248, 217), "request_key": (249, 218),
        "name_to_handle_at": (303, 264), "open_by_handle_at": (304, 265), "iopl": (172, None),
        "ioperm": (173, None), "swapon": (167, 224), "swapoff": (168, 225), "acct": (163, 89),
        "settimeofday": (164, 170), "clock_settime": (227, 112), "adjtimex": (159, 171),
        "clock_adjtime": (305, 266), "sethostname": (170, 161), "setdomainname": (171, 162),
        "quotactl": (179, 60), "io_uring_setup": (425, 425), "io_uring_enter": (426, 426),
        "io_uring_register": (427, 427),
    }
    clone, clone3, prlimit64 = (56, 435, 302) if x86 else (220, 435, 261)
    arch = 0xC000003E if x86 else 0xC00000B7  # AUDIT_ARCH_X86_64, AUDIT_ARCH_AARCH64
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, ..., BPF_RET|K
    allow, kill = 0x7FFF0000, 0x80000000  # SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS
    eperm, enosys = 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS  # SECCOMP_RET_ERRNO

    def op(code, k, jt=0, jf=0):
        return struct.pack("=HBBI", code, jt, jf, k)

    # seccomp_data: nr at 0, arch at 4, args[i] at 16 + 8 i (low word first on these little-endian CPUs)
    prog = [op(ld, 4), op(jeq, arch, 1, 0), op(ret, kill), op(ld, 0)]
    if x86:
        prog += [op(jge, 0x40000000, 0, 1), op(ret, kill)]  # the x32 ABI
    for numbers in table.values():
        number = numbers[0 if x86 else 1]
        if number is not None:
            prog += [op(jeq, number, 0, 1), op(ret, eperm)]
    prog += [op(jeq, clone3, 0, 1), op(ret, enosys)]  # flags sit behind a pointer: make glibc use clone
    prog += [op(jeq, clone, 0, 4), op(ld, 16), op(jset, 0x00010000, 0, 1), op(ret, allow), op(ret, eperm)]
    # prlimit64 may read limits (new_limit, args[2], NULL) but not set them
    prog += [op(jeq, prlimit64, 0, 6), op(ld, 32), op(jeq, 0, 0, 3), op(ld, 36), op(jeq, 0, 0, 1),
             op(ret, allow), op(ret, eperm)]
    prog.append(op(ret, allow))
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    filters = ctypes.create_string_buffer(b"".join(prog))
    fprog = ctypes.create_string_buffer(struct.pack("=HxxxxxxQ", len(prog), ctypes.addressof(filters)))
    ulong = ctypes.c_ulong
    if libc.prctl(38, ulong(1), ulong(0), ulong(0), ulong(0)) != 0:  # PR_SET_NO_NEW_PRIVS
        return False
    return libc.prctl(22, ulong(2), fprog, ulong(0), ulong(0)) == 0  # PR_SET_SECCOMP, MODE_FILTER


def _install_landlock(workdir: str) -> bool:
    """Allow writes beneath ``workdir`` only, and no exec, in the kernel (Landlock; root included)."""
    import ctypes
    import os
    import struct
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    create, add_rule, restrict = 444, 445, 446  # the same numbers on every architecture
    abi = syscall(create, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # LANDLOCK_CREATE_RULESET_VERSION
    if abi < 1:
        return False
    execute, write_file, make_char, make_block = 1 << 0, 1 << 1, 1 << 6, 1 << 11
    handled = execute | write_file | sum(1 << bit for bit in (4, 5, 6, 7, 8, 9, 10, 11, 12))
    truncate = (1 << 14) if abi >= 3 else 0
    handled |= ((1 << 13) if abi >= 2 else 0) | truncate  # REFER, TRUNCATE
    attr = struct.pack("=Q", handled)
    if abi >= 4:
        attr += struct.pack("=Q", 0b11)  # handled_access_net: TCP bind and connect, none allowed
    if abi >= 6:
        attr += struct.pack("=Q", 0b11)  # scoped: abstract unix sockets and signals
    ruleset = syscall(create, ctypes.create_string_buffer(attr, len(attr)), ctypes.c_size_t(len(attr)),
                      ctypes.c_uint32(0))
    if ruleset < 0:
        return False
    try:
        rules = ((workdir, handled & ~(execute | make_char | make_block)), ("/dev/null", write_file | truncate))
        for path, access in rules:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = struct.pack("=Qi", access, fd)  # landlock_path_beneath_attr is packed
                buf = ctypes.create_string_buffer(rule, len(rule))
                if syscall(add_rule, ctypes.c_int(ruleset), ctypes.c_int(1), buf, ctypes.c_uint32(0)) != 0:
                    return False
            finally:
                os.close(fd)
        ulong = ctypes.c_ulong
        if libc.prctl(38, ulong(1), ulong(0), ulong(0), ulong(0)) != 0:  # PR_SET_NO_NEW_PRIVS
            return False
        return syscall(restrict, ctypes.c_int(ruleset), ctypes.c_uint32(0)) == 0
    finally:
        os.close(ruleset)
