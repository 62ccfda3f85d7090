"""Training under several processes (``accelerate launch``): who trains, who writes, who goes on.

``accelerate launch`` (torchrun underneath) starts N copies of ``harness run``; each
knows its rank from the environment. Every process takes part in training (DDP: each
takes its share of every batch, gradients are averaged; FSDP/DeepSpeed: through
``transformers.Trainer`` or the shared loop, see docs/scale-out.md), and:

- **one writer**: rank 0 alone writes checkpoints, adapters, candidate folders and
  caches; the others wait (:func:`barrier`) before reading what it wrote;
- **one decision**: whatever must agree across ranks (a cache hit, a staging folder, a
  synthesis made on rank 0) is rank 0's, sent to the others (:func:`broadcast`);
- **deterministic shards**: work split across ranks (sampling, judging) takes
  ``items[rank::world]`` and is put back in the original order (:func:`map_shards`);
- **quiet replicas**: ranks other than 0 print no progress bars or info logs;
- **rank 0 goes on**: after the candidate is stored, the other ranks leave
  (:func:`finish`) and rank 0 alone generates and scores.

Without a launcher (one process) every function here is a no-op that returns its input,
and nothing imports accelerate or torch. A launcher on a machine without CUDA (the CPU
test config) gets the gloo backend: ``ACCELERATE_USE_CPU`` is set before accelerate's
state starts. Collectives wait up to ``HARNESS_DIST_TIMEOUT_S`` seconds (default two
hours: rank 0 may pretrain the tiny base or synthesise data alone meanwhile).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

TIMEOUT_ENV = "HARNESS_DIST_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 7200
_SIZE_VARIABLES = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
_finished = False  # finish() ran: the group is gone and this process goes on alone
# what torchrun / accelerate launch set for a member of a group (removed on rank 0 by finish)
_LAUNCH_VARIABLES = (
    "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE",
    "ROLE_RANK", "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID",
    "ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED",
)  # fmt: skip


def launched_world_size() -> int:
    """The number of processes a launcher (torchrun, accelerate, mpirun) started; 1 without one.

    >>> import os
    >>> old = os.environ.pop("WORLD_SIZE", None)
    >>> launched_world_size()
    1
    >>> os.environ["WORLD_SIZE"] = "4"; launched_world_size()
    4
    >>> _ = os.environ.pop("WORLD_SIZE") if old is None else os.environ.update(WORLD_SIZE=old)
    """
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 1:
            return int(value)
    return 1


def launched() -> bool:
    """Whether this process is one of several a launcher started (from the environment alone)."""
    return launched_world_size() > 1


def state() -> Any:
    """accelerate's ``PartialState``, started here (process group, gloo without CUDA, timeout)."""
    from accelerate import PartialState

    if PartialState._shared_state:  # already started (here or by accelerate / transformers)
        return PartialState()
    if launched():
        from datetime import timedelta

        import torch

        if "ACCELERATE_USE_CPU" not in os.environ and not torch.cuda.is_available():
            os.environ["ACCELERATE_USE_CPU"] = "true"  # no GPU: gloo on CPU, not N lone processes
        cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
        seconds = int(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_S)
        started = PartialState(cpu=cpu, timeout=timedelta(seconds=seconds))
        if started.num_processes != launched_world_size():
            raise RuntimeError(
                f"launched as {launched_world_size()} processes, but accelerate sees "
                f"{started.num_processes}; launch with `accelerate launch --config_file "
                "configs/accelerate/<config>.yaml` (see docs/scale-out.md)"
            )
        if not started.is_main_process:
            quiet_replica()
        return started
    return PartialState()


def active() -> bool:
    """Whether this process trains in a group of several that is still up."""
    return launched() and not _finished and state().num_processes > 1


def rank() -> int:
    return state().process_index if active() else 0


def world() -> int:
    return state().num_processes if active() else 1


def is_main() -> bool:
    """Rank 0, or the only process: the one that writes."""
    return not active() or state().is_main_process


def barrier() -> None:
    """Wait until every rank gets here (e.g. before reading what rank 0 wrote)."""
    if active():
        state().wait_for_everyone()


def broadcast(value: T) -> T:
    """Rank 0's ``value`` on every rank (pickled)."""
    if not active():
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(value: T) -> list[T]:
    """Every rank's ``value``, in rank order, on every rank (``[value]`` alone)."""
    if not active():
        return [value]
    import torch.distributed as dist

    out: list[Any] = [None] * world()
    dist.all_gather_object(out, value)
    return out


def shard(items: Sequence[T]) -> list[T]:
    """This rank's share of ``items``: every ``world``-th from position ``rank``."""
    return list(items[rank() :: world()])


def map_shards(items: Sequence[T], work: Callable[[list[T]], list[R]]) -> list[R]:
    """``work(items)`` split across ranks: each runs ``work`` on its :func:`shard` (one
    result per item), and every rank gets all results in the order of ``items``."""
    if not active():
        return work(list(items))
    mine = work(shard(items))
    if len(mine) != len(shard(items)):
        raise RuntimeError(f"map_shards: {len(mine)} results for {len(shard(items))} items")
    pieces = gather(mine)
    out: list[Any] = [None] * len(items)
    for r, piece in enumerate(pieces):
        out[r :: len(pieces)] = piece
    return out


def kind() -> str:
    """How the launcher parallelises: ``ddp``, ``fsdp`` or ``deepspeed`` (from accelerate's env)."""
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
        return "deepspeed"
    if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true":
        return "fsdp"
    return "ddp"


def layout() -> dict[str, Any] | None:
    """What sets a distributed candidate apart from a single-process one (for its cache key):
    None for one process."""
    if not active():
        return None
    return {"world_size": world(), "parallelism": kind()}


def describe() -> dict[str, Any]:
    """Every rank's part in training, gathered (collective: every rank calls it)."""
    import socket

    me = state()
    ranks = gather(
        {"rank": me.process_index, "local_rank": me.local_process_index, "pid": os.getpid(),
         "host": socket.gethostname(), "device": str(me.device)}
    )  # fmt: skip
    return {
        "world_size": me.num_processes,
        "parallelism": kind(),
        "distributed_type": str(me.distributed_type.value),
        "backend": me.backend,
        "ranks": ranks,
        "writer": 0,
    }


def per_device(batch_size: int, method: str) -> int:
    """A global batch's share per rank (``transformers.Trainer`` counts batches per device),
    so that N processes take the same optimizer steps over the same global batch as one.

    >>> per_device(8, "grpo")
    8
    """
    size = world()
    if batch_size % size:
        raise ValueError(
            f"{method}: batch_size ({batch_size}) is the global batch and must be a multiple of "
            f"the {size} processes, e.g. batch_size={max(1, round(batch_size / size)) * size}"
        )
    return batch_size // size


def trainer_state_dict(trainer: Any) -> dict[str, Any] | None:
    """A ``transformers.Trainer``'s weights gathered from FSDP or DeepSpeed shards (collective:
    every rank calls it; the full dict lands on rank 0); None where the local module holds
    them (one process, DDP)."""
    if not active() or kind() == "ddp":
        return None
    return trainer.accelerator.get_state_dict(trainer.model_wrapped)


def replicas(model: Any) -> dict[str, Any] | None:
    """Under DDP, a checksum of the model's weights on every rank and whether they agree
    (the gradients were averaged: every rank must hold the same weights after a step);
    None for one process or sharded weights (FSDP, DeepSpeed). Collective."""
    if not active() or kind() != "ddp":
        return None
    import torch

    with torch.no_grad():
        checksum = float(sum(p.detach().double().sum().item() for p in model.parameters()))
    checksums = gather(checksum)
    spread = max(checksums) - min(checksums)
    return {"checksums": checksums, "in_sync": spread <= 1e-6 * max(1.0, abs(checksums[0]))}


def refuse_sharding(method: str, why: str) -> None:
    """Stop a method that cannot run under FSDP or DeepSpeed with a clear message."""
    if active() and kind() != "ddp":
        raise ValueError(
            f"{method} cannot train under {kind()} ({why}); launch it with "
            "configs/accelerate/ddp.yaml (DDP) instead"
        )


def finish(*, exit_replicas: bool = True) -> None:
    """After training: every rank waits for the others; then, with ``exit_replicas``, the
    group is taken down, ranks other than 0 exit (status 0) and rank 0 goes on alone."""
    global _finished
    if not active():
        return
    barrier()
    if not exit_replicas:
        return
    import torch.distributed as dist

    me = state()
    main, index, size = me.is_main_process, me.process_index, me.num_processes
    if dist.is_initialized():
        dist.destroy_process_group()
    _finished = True
    if not main:
        print(f"harness: rank {index} of {size} finished training; rank 0 goes on", file=sys.stderr)
        sys.stderr.flush()
        raise SystemExit(0)
    # Rank 0 goes on as a lone process: what it starts next (a vLLM engine, its workers)
    # must not take it for one of a group, and accelerate starts afresh if asked again.
    for name in _LAUNCH_VARIABLES:
        os.environ.pop(name, None)
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()  # the training's cached blocks, for the generation that follows


def quiet_replica() -> None:
    """No progress bars and only warnings from the libraries on ranks other than 0."""
    import logging

    logging.getLogger("trainers").setLevel(logging.WARNING)
    try:
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    except ImportError:
        pass
    try:
        import datasets

        datasets.disable_progress_bars()
        datasets.utils.logging.set_verbosity_error()
    except ImportError:
        pass
