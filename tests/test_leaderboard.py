"""`harness leaderboard`: the table, its Markdown/CSV exports, and the static site in a
real headless Chromium, on runs made by the real `harness eval` / `harness run`."""

from __future__ import annotations

import csv
import functools
import http.server
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from leaderboards.html import write_site
from leaderboards.records import find_runs, load_run
from leaderboards.table import leaderboard_rows, to_csv, to_markdown
from tests.test_eval_cli import harness

HOSTILE_PRED = "</script><script>window.pwned=1</script>"
# the replay run's predictions file is its model, so this name reaches the index page
HOSTILE_MODEL = "<img src=x onerror=window.pwned=2>.jsonl"
CHROMIUM = shutil.which("chromium")
PLAYWRIGHT = importlib.util.find_spec("playwright") is not None
needs_browser = pytest.mark.skipif(
    not (CHROMIUM and PLAYWRIGHT),
    reason="needs Debian's chromium and playwright: apt-get install -y chromium; "
    "pip install playwright (no `playwright install`: the tests use the system chromium)",
)

# the CLI as the lead registers it, in a local app (harness/cli.py is not ours to edit)
CLI = (
    "import typer; from harness.cli_leaderboard import leaderboard_command; "
    "app = typer.Typer(); app.command()(leaderboard_command); app()"
)


def leaderboard(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True,
                          timeout=120)


def _samples(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]


def _write_predictions(path: Path, sqls: dict[str, str]) -> Path:
    path.write_text("".join(json.dumps({"id": k, "sql": v}) + "\n" for k, v in sqls.items()))
    return path


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    """Three real runs with different accuracies, on two suites and two methods:

    - ``synth-sql/eval-gold``: `harness eval` of the gold SQL (accuracy 1);
    - ``synth-sql/sft-replay``: `harness run` replaying a predictions file (every other
      answer wrong, one hostile, one failing), recorded as an ``sft`` candidate;
    - ``synth-sql-bird/eval-partial``: `harness eval` with VES on 9 examples, a third wrong.
    """
    tmp = tmp_path_factory.mktemp("leaderboard")
    env = {**os.environ, "HARNESS_CACHE": str(tmp / "cache")}  # the autouse fixture is per test
    root = tmp / "runs"
    tiny = ("-S", "size=tiny")

    gold = root / "synth-sql" / "eval-gold"
    proc = harness("eval", "--suite", "synth-sql", *tiny, "--out", str(gold), env=env)
    assert proc.returncode == 0, proc.stderr

    golds = {s["id"]: s["gold"] for s in _samples(gold)}
    sqls = {k: v if int(k) % 2 == 0 else "SELECT 1" for k, v in golds.items()}
    sqls["0"] = f"SELECT '{HOSTILE_PRED}'"
    sqls["2"] = "SELECT * FROM no_such_table"
    predictions = _write_predictions(tmp / HOSTILE_MODEL, sqls)
    replay = root / "synth-sql" / "sft-replay"
    proc = harness("run", "--suite", "synth-sql", *tiny, "--model", str(predictions),
                   "--out", str(replay), env=env)
    assert proc.returncode == 0, proc.stderr
    # Training a real candidate takes minutes; the record of one differs only in its
    # method entry, which is what the leaderboard reads.
    run_json = json.loads((replay / "run.json").read_text())
    assert run_json["spec"]["method"] == {"name": "none", "config": {}}
    run_json["spec"]["method"] = {"name": "sft", "config": {"lr": 1e-4}, "candidate": "c",
                                  "base": str(predictions)}
    (replay / "run.json").write_text(json.dumps(run_json))

    scratch = tmp / "bird-gold"
    bird = ("--suite", "synth-sql-bird", *tiny, "--limit", "9")
    proc = harness("eval", *bird, "--out", str(scratch), env=env)
    assert proc.returncode == 0, proc.stderr
    sqls = {s["id"]: s["gold"] if i % 3 else "SELECT 1" for i, s in enumerate(_samples(scratch))}
    partial = root / "synth-sql-bird" / "eval-partial"
    proc = harness("eval", *bird, "--metrics", "ex,ves", "--predictions",
                   str(_write_predictions(tmp / "bird.jsonl", sqls)), "--out", str(partial),
                   env=env)
    assert proc.returncode == 0, proc.stderr
    return root


@pytest.fixture(scope="module")
def records(runs_root):
    return [load_run(p) for p in find_runs(runs_root)]


@pytest.fixture(scope="module")
def site(runs_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "index.html"
    proc = leaderboard("--runs", str(runs_root), "--html", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def by_run(rows: list[dict]) -> dict[str, dict]:
    return {r["run"]: r for r in rows}


def test_rows_carry_the_results(records):
    rows = leaderboard_rows(records)
    assert [r["run"] for r in rows] == ["eval-gold", "sft-replay", "eval-partial"]
    assert len({tuple(r) for r in rows}) == 1  # one set of columns
    gold, replay, bird = (by_run(rows)[n] for n in ("eval-gold", "sft-replay", "eval-partial"))
    results = {r.label: r.results for r in records}
    for row in rows:
        overall = results[row["run"]]["overall"]
        assert row["accuracy"] == overall["metrics"]["ex"] and row["metric"] == "ex"
        assert row["count"] == overall["count"] and row["error_rate"] == overall["error_rate"]
        for tier, section in results[row["run"]]["by_tier"].items():
            assert row[f"tier:{tier}"] == section["metrics"]["ex"]
    assert gold["accuracy"] == 1.0 and gold["em"] == 1.0 and gold["ves"] is None
    assert 0 < replay["accuracy"] < 1 and replay["error_rate"] > 0 and replay["em"] is not None
    assert 0 < bird["accuracy"] < 1 and bird["ves"] > 0 and bird["em"] is None
    assert bird["count"] == 9 and gold["count"] == 24
    assert {k for k in gold if k.startswith("tier:")} == {
        "tier:easy", "tier:medium", "tier:hard", "tier:extra",
        "tier:simple", "tier:moderate", "tier:challenging"}
    assert gold["tier:simple"] is None and bird["tier:easy"] is None
    assert (gold["method"], replay["method"], bird["method"]) == ("none", "sft", "none")
    assert gold["model"] == "gold" and replay["model"].endswith(HOSTILE_MODEL)
    assert (gold["suite"], bird["suite"]) == ("synth-sql", "synth-sql-bird")
    run_json = records[0].run
    row = by_run(rows)[records[0].label]
    assert row["date"] == run_json["created"] and row["git_revision"] == run_json["git_revision"]


def test_markdown_and_csv_exports(records):
    rows = leaderboard_rows(records)
    md = to_markdown(rows).splitlines()
    assert len(md) == 2 + len(rows)
    header = [c.strip() for c in md[0].strip("|").split("|")]
    assert header[:3] == ["run", "method", "model"] and "tier:extra" in header and "ves" in header
    assert all(line.count(" | ") == md[0].count(" | ") for line in md)
    gold_line = next(line for line in md if line.startswith("| eval-gold "))
    assert "| 1.000 |" in gold_line and "| synth-sql |" in gold_line
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert [p["run"] for p in parsed] == [r["run"] for r in rows]
    for line, row in zip(parsed, rows):
        assert list(line) == list(row)
        for key, value in row.items():
            if isinstance(value, float):
                assert float(line[key]) == value  # full precision
            else:
                assert line[key] == ("" if value is None else str(value))


def test_pages_escape_hostile_text(records, tmp_path):
    written = write_site(records, tmp_path / "site" / "index.html")
    assert written[0] == tmp_path / "site" / "index.html" and len(written) == 1 + len(records)
    assert all(p.parent == tmp_path / "site" / "runs" for p in written[1:])
    pages = {p.name: p.read_text() for p in written}
    replay = pages["sft-replay.html"]
    assert "&lt;/script&gt;&lt;script&gt;window.pwned=1&lt;/script&gt;" in replay
    assert "<img src=x" not in pages["index.html"] and "&lt;img src=x" in pages["index.html"]
    for name, text in pages.items():
        assert "window.pwned=1</script>" not in text and "<img" not in text, name
        assert text.count("<script") == text.count("</script>"), name
        assert len(re.findall(r"<script>", text)) == (1 if name == "index.html" else 0), name
        assert not re.search(r"(?:src|href)=\"?(?:https?:)?//", text), name  # nothing remote
        for blob in re.findall(r"<script type=\"application/json\"[^>]*>(.*?)</script>", text,
                               re.S):
            assert "<" not in blob and ">" not in blob  # no `</script>`, no `<!--`
            json.loads(blob)
    data = json.loads(re.search(r"id=\"run-data\">(.*?)</script>", replay, re.S).group(1))
    assert data["samples"][0]["pred"] == f"SELECT '{HOSTILE_PRED}'"
    assert len(data["samples"]) == len(next(r for r in records if r.label == "sft-replay").samples)


def test_cli_writes_every_format(runs_root, tmp_path):
    out = tmp_path / "out"
    proc = leaderboard("--runs", str(runs_root), "--html", str(out / "index.html"),
                       "--md", str(out / "board.md"), "--csv", str(out / "board.csv"))
    assert proc.returncode == 0, proc.stderr
    printed = proc.stdout.split()
    assert str(out / "index.html") in printed and str(out / "board.md") in printed
    assert str(out / "board.csv") in printed and len(printed) == 3 + 3
    assert all(Path(p).is_file() for p in printed)
    assert (out / "board.md").read_text().count("\n") == 2 + 3
    # one run directory is a root of one run; no --html: samples are not needed
    proc = leaderboard("--runs", str(runs_root / "synth-sql" / "eval-gold"), "--csv",
                       str(tmp_path / "one.csv"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "one.csv").read_text().count("\n") == 2


def test_cli_errors_name_the_problem(runs_root, tmp_path):
    proc = leaderboard("--runs", str(runs_root))
    assert proc.returncode == 2 and "at least one of --html, --md, --csv" in proc.stderr
    (tmp_path / "empty").mkdir()
    proc = leaderboard("--runs", str(tmp_path / "empty"), "--md", str(tmp_path / "x.md"))
    assert proc.returncode == 2 and "no run found" in proc.stderr
    proc = leaderboard("--runs", str(tmp_path / "absent"), "--md", str(tmp_path / "x.md"))
    assert proc.returncode == 2 and "not a directory" in proc.stderr
    broken = tmp_path / "broken"
    shutil.copytree(runs_root / "synth-sql" / "eval-gold", broken / "run")
    (broken / "run" / "results.json").write_text("{\"overall\": ")
    proc = leaderboard("--runs", str(broken), "--csv", str(tmp_path / "x.csv"))
    assert proc.returncode == 2 and str(broken / "run" / "results.json") in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "x.csv").exists()
    shutil.copy(runs_root / "synth-sql" / "eval-gold" / "results.json", broken / "run")
    (broken / "run" / "samples.jsonl").write_text("{\"id\": \"0\", \"status\": \"match\"}\nnope\n")
    proc = leaderboard("--runs", str(broken), "--html", str(tmp_path / "site" / "index.html"))
    assert proc.returncode == 2 and f"{broken / 'run' / 'samples.jsonl'}: line 2" in proc.stderr


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def browser_page(site):
    """A headless Chromium page on the site, served from 127.0.0.1; every request recorded."""
    from playwright.sync_api import sync_playwright

    handler = functools.partial(_QuietHandler, directory=str(site.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    requests: list[str] = []
    errors: list[str] = []
    try:
        with sync_playwright() as p:
            # root in CI: no sandbox; containers: a small /dev/shm
            browser = p.chromium.launch(executable_path=CHROMIUM,
                                        args=["--no-sandbox", "--disable-dev-shm-usage"])
            context = browser.new_context()
            context.on("request", lambda request: requests.append(request.url))
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page, base, requests, errors
            browser.close()
    finally:
        server.shutdown()
        server.server_close()


def _runs_in_order(page) -> list[str]:
    return page.locator("#leaderboard tbody tr td:first-child").all_inner_texts()


def _visible_runs(page) -> list[str]:
    return page.locator("#leaderboard tbody tr:visible td:first-child").all_inner_texts()


@needs_browser
def test_page_renders_sorts_and_filters(browser_page, records):
    page, base, requests, errors = browser_page
    page.goto(f"{base}/index.html")
    assert page.locator("#leaderboard tbody tr").count() == len(records)
    assert page.evaluate("JSON.parse(document.getElementById('leaderboard-data').textContent)"
                         ".length") == len(records)
    assert page.locator("figure.chart").count() == 3  # one per (suite, method)
    order = _runs_in_order(page)
    assert order == ["eval-gold", "sft-replay", "eval-partial"]
    accuracy = {r["run"]: r["accuracy"] for r in leaderboard_rows(records)}
    page.click("#leaderboard th[data-key=accuracy]")
    ascending = _runs_in_order(page)
    assert ascending == sorted(order, key=accuracy.get) and ascending != order
    page.click("#leaderboard th[data-key=accuracy]")
    assert _runs_in_order(page) == sorted(order, key=accuracy.get, reverse=True)
    page.click("#leaderboard th[data-key=count]")  # numbers as numbers: 9 before 24
    assert _runs_in_order(page)[0] == "eval-partial"
    page.click("#leaderboard th[data-key=run]")
    assert _runs_in_order(page) == sorted(order)

    page.select_option("#filter-suite", "synth-sql-bird")
    assert _visible_runs(page) == ["eval-partial"] and page.inner_text("#shown") == "1"
    assert page.locator("figure.chart:visible").count() == 1
    page.select_option("#filter-method", "sft")
    assert _visible_runs(page) == [] and page.locator("figure.chart:visible").count() == 0
    page.select_option("#filter-suite", "")
    assert _visible_runs(page) == ["sft-replay"]
    page.select_option("#filter-method", "")
    assert sorted(_visible_runs(page)) == sorted(order)
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert errors == []


@needs_browser
def test_run_link_opens_its_samples(browser_page, records):
    page, base, requests, errors = browser_page
    page.goto(f"{base}/index.html")
    page.click("#leaderboard a:text-is('sft-replay')")
    page.wait_for_url("**/runs/sft-replay.html")
    replay = next(r for r in records if r.label == "sft-replay")
    assert page.locator("#samples > tbody > tr").count() == len(replay.samples)
    assert page.inner_text("#sample-0 pre.pred") == f"SELECT '{HOSTILE_PRED}'"
    assert "no such table" in page.inner_text("#sample-2 pre.error")
    assert page.inner_text("#sample-0 td:nth-child(2)") == replay.samples["0"]["db_id"]
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.locator("#samples script, #samples img").count() == 0
    page.click("text=leaderboard")
    page.wait_for_url("**/index.html")
    assert errors == []


@needs_browser
def test_nothing_is_requested_from_elsewhere(browser_page, records):
    page, base, requests, errors = browser_page
    page.goto(f"{base}/index.html")
    for name in ("eval-gold", "eval-partial", "sft-replay"):
        page.goto(f"{base}/runs/{name}.html")
        page.wait_for_load_state("load")
    assert requests, "no request was recorded"
    assert [u for u in requests if not u.startswith("http://127.0.0.1:")] == []
    assert {u.rsplit("/", 1)[-1] for u in requests} >= {
        "index.html", "eval-gold.html", "eval-partial.html", "sft-replay.html"}


def test_question_and_result_rows_show_when_recorded(records):
    from dataclasses import replace

    from leaderboards.html import render_run_page

    replay = next(r for r in records if r.label == "sft-replay")
    row = by_run(leaderboard_rows(records))["sft-replay"]
    recorded = render_run_page(replay, row, "../index.html")  # scoring records the first rows
    assert "predicted rows" in recorded and "question" not in recorded
    bare = {k: {f: v for f, v in s.items() if not f.endswith("_rows")} for k, s in replay.samples.items()}
    assert "predicted rows" not in render_run_page(replace(replay, samples=bare), row, "../index.html")
    samples = {k: dict(v) for k, v in replay.samples.items()}
    samples["0"].update(question="Which <b>projects</b>?", pred_rows=[["<i>x</i>", 1]] * 7,
                        gold_rows=[])
    page = render_run_page(replace(replay, samples=samples), row, "../index.html")
    assert "<th scope=\"col\">question</th>" in page and "predicted rows" in page
    assert "Which &lt;b&gt;projects&lt;/b&gt;?" in page and "<b>" not in page
    assert page.count("<td>&lt;i&gt;x&lt;/i&gt;</td>") == 5 and "2 more rows" in page
    assert "no rows" in page


def test_method_labels_name_the_options_that_tell_runs_apart(tmp_path):
    from leaderboards.records import RunRecord
    from leaderboards.table import method_labels

    def record(name: str, method: str, **config) -> RunRecord:
        spec = {"method": {"name": method, "config": config}}
        return RunRecord(tmp_path / name, {"spec": spec}, {"overall": {}, "by_tier": {}})

    runs = [record("a", "curriculum", schedule="hybrid", seed=0, steps=100),
            record("b", "curriculum", schedule="sorted", seed=1, steps=100),
            record("c", "sft", steps=400, seed=0), record("d", "sft", steps=400, seed=2),
            record("e", "none")]  # fmt: skip
    assert method_labels(runs) == [
        "curriculum schedule=hybrid", "curriculum schedule=sorted", "sft", "sft", "none"
    ]
