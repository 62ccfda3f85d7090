"""The leaderboard as a static site: ``index.html`` and one page per run under ``runs/``.

Every page is self-contained (CSS, JavaScript, charts and data inline) and loads nothing.
Model output is hostile input: every string goes through :func:`esc`, and data embedded
as JSON goes through :func:`json_for_script`, so neither can end the element it sits in.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from leaderboards.html_assets import CSS, INDEX_JS
from leaderboards.records import RunRecord, id_order
from leaderboards.table import columns, format_value, leaderboard_rows, run_names

#: Result rows shown per side on a run page.
PREVIEW_ROWS = 5
TEXT_COLUMNS = {"run", "method", "model", "suite", "date", "git_revision", "metric"}


def esc(value: Any) -> str:
    """``value`` as HTML text or attribute content; ``None`` is empty.

    >>> esc('</script><script>alert("x")</script>')
    '&lt;/script&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'
    >>> esc(None), esc(0.5)
    ('', '0.5')
    """
    return "" if value is None else html.escape(str(value), quote=True)


def json_for_script(data: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` at all,
    so ``</script>`` and ``<!--`` cannot appear; JSON.parse reads the escapes back.

    >>> json_for_script({"pred": "</script><!--"})
    '{"pred": "\\\\u003c/script\\\\u003e\\\\u003c!--"}'
    """
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, default=str)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


def slugify(name: str) -> str:
    """A file-name-safe form of a run name.

    >>> slugify("synth-sql/mac/seed0"), slugify("../<x>")
    ('synth-sql-mac-seed0', 'x')
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "run"


def _page(title: str, body: str, script: str = "") -> str:
    # The policy allows the one inline script by hash: injected markup could not run code.
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
              f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{esc(policy)}\">\n"
        "<meta name=\"referrer\" content=\"no-referrer\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{esc(title)}</title>\n<style>{CSS}</style></head>\n<body>\n{body}\n"
        + (f"<script>{script}</script>\n" if script else "")
        + "</body></html>\n"
    )


def _options(select_id: str, label: str, values: Sequence[str]) -> str:
    options = "".join(f"<option value=\"{esc(v)}\">{esc(v)}</option>" for v in values)
    return (f"<label>{esc(label)} <select id=\"{select_id}\"><option value=\"\">all</option>"
            f"{options}</select></label>")


def _header(key: str) -> str:
    return esc(key.split(":", 1)[1] if key.startswith("tier:") else key.replace("_", " "))


def _cell(key: str, value: Any, page: str | None = None) -> str:
    text = esc(format_value(key, value))
    if key == "run" and page:
        text = f"<a href=\"{esc(page)}\">{text}</a>"
    if key == "git_revision" and value:
        text = f"<code title=\"{esc(value)}\">{text}</code>"
    elif key == "model" and value:
        text = f"<span title=\"{esc(value)}\">{text}</span>"
    sort = "" if value is None else value if isinstance(value, str) else repr(value)
    kind = "" if key in TEXT_COLUMNS else " class=\"num\""
    return f"<td{kind} data-sort=\"{esc(sort)}\">{text}</td>"


@dataclass
class TierBars:
    """Mean main-metric accuracy per tier of one method on one suite, over its runs."""

    suite: str
    method: str
    runs: int
    tiers: list[tuple[str, float]]

    def svg(self, bar: int = 44, height: int = 120) -> str:
        """An inline SVG bar chart (0 to 1 on the vertical axis)."""
        width = 16 + bar * max(1, len(self.tiers))
        top, parts = 18, []
        for i, (tier, value) in enumerate(self.tiers):
            x = 12 + i * bar
            h = round(max(0.0, min(1.0, value)) * height, 1)
            parts.append(
                f"<rect class=\"bar\" x=\"{x}\" y=\"{top + height - h}\" width=\"{bar - 10}\" "
                f"height=\"{h}\"><title>{esc(tier)}: {value:.3f}</title></rect>"
                f"<text x=\"{x + (bar - 10) / 2}\" y=\"{top + height - h - 4}\" "
                f"text-anchor=\"middle\">{value:.2f}</text>"
                f"<text x=\"{x + (bar - 10) / 2}\" y=\"{top + height + 14}\" "
                f"text-anchor=\"middle\">{esc(tier)}</text>")
        axis = f"<line class=\"axis\" x1=\"8\" x2=\"{width - 4}\" y1=\"{top + height}\" " \
               f"y2=\"{top + height}\"/>"
        label = esc(f"{self.method} on {self.suite}: accuracy per tier")
        return (f"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" "
                f"height=\"{top + height + 20}\" role=\"img\" aria-label=\"{label}\">"
                f"{axis}{''.join(parts)}</svg>")


def tier_bars(rows: Sequence[dict[str, Any]]) -> list[TierBars]:
    """One chart per (suite, method): each tier's accuracy averaged over the method's runs.

    >>> rows = [{"suite": "s", "method": "m", "tier:easy": 1.0, "tier:hard": None},
    ...         {"suite": "s", "method": "m", "tier:easy": 0.5, "tier:hard": 0.2}]
    >>> tier_bars(rows)
    [TierBars(suite='s', method='m', runs=2, tiers=[('easy', 0.75), ('hard', 0.2)])]
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["suite"], row["method"])].append(row)
    charts = []
    for (suite, method), group in sorted(groups.items()):
        tiers = []
        for key in [k for k in columns(group) if k.startswith("tier:")]:
            values = [r[key] for r in group if r.get(key) is not None]
            if values:
                tiers.append((key[5:], sum(values) / len(values)))
        charts.append(TierBars(suite, method, len(group), tiers))
    return charts


def render_index(rows: Sequence[dict[str, Any]], pages: dict[str, str]) -> str:
    """The leaderboard page; ``pages`` maps a run name to its page's relative URL."""
    keys = columns(rows)
    head = "".join(f"<th scope=\"col\" data-key=\"{esc(k)}\">{_header(k)}</th>" for k in keys)
    body = "".join(
        f"<tr data-suite=\"{esc(r['suite'])}\" data-method=\"{esc(r['method'])}\">"
        + "".join(_cell(k, r.get(k), pages.get(r["run"])) for k in keys) + "</tr>\n"
        for r in rows)
    charts = "".join(
        f"<figure class=\"chart\" data-suite=\"{esc(c.suite)}\" data-method=\"{esc(c.method)}\">"
        f"<figcaption>{esc(c.method)} <span class=\"muted\">on {esc(c.suite)}, "
        f"{c.runs} run{'s' if c.runs != 1 else ''}</span></figcaption>{c.svg()}</figure>"
        for c in tier_bars(rows) if c.tiers)
    data = [dict(r, page=pages.get(r["run"])) for r in rows]
    page = (
        "<h1>Leaderboard</h1>\n<p class=\"muted\">Accuracy is each suite's main metric (execution "
        "accuracy where measured); click a column to sort, a run to see its samples.</p>\n"
        "<div class=\"filters\">"
        + _options("filter-suite", "Suite", sorted({r["suite"] for r in rows}))
        + _options("filter-method", "Method", sorted({r["method"] for r in rows}))
        + f"<span class=\"muted\"><span id=\"shown\">{len(rows)}</span> of {len(rows)} runs"
        "</span></div>\n"
        f"<table id=\"leaderboard\"><thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>"
        "</table>\n<h2>Accuracy per tier</h2>\n"
        f"<div class=\"charts\">{charts}</div>\n"
        "<script type=\"application/json\" id=\"leaderboard-data\">"
        f"{json_for_script(data)}</script>"
    )
    return _page("Leaderboard", page, INDEX_JS)


def _preview(rows: Any) -> str:
    if not isinstance(rows, list):
        return ""
    if not rows:
        return "<p class=\"muted\">no rows</p>"
    cells = "".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in (r if isinstance(r, list) else [r]))
        + "</tr>" for r in rows[:PREVIEW_ROWS])
    more = len(rows) - PREVIEW_ROWS
    return f"<table class=\"rows\">{cells}</table>" + (
        f"<p class=\"muted\">{more} more rows</p>" if more > 0 else "")


@dataclass
class SampleColumns:
    """Which optional columns a run page shows: only those some sample has data for."""

    metric: str | None
    db: bool = False
    question: bool = False
    rows: bool = False  # result rows, as ``pred_rows`` / ``gold_rows`` in a sample record

    @classmethod
    def of(cls, samples: Sequence[dict[str, Any]], metric: str | None) -> SampleColumns:
        return cls(metric, any(s.get("db_id") for s in samples),
                   any(s.get("question") for s in samples),
                   any(isinstance(s.get(k), list) for s in samples
                       for k in ("pred_rows", "gold_rows")))

    def heads(self) -> list[str]:
        return (["id"] + (["database"] if self.db else [])
                + ["tier", "status", self.metric or "score"]
                + (["question"] if self.question else []) + ["predicted", "gold"]
                + (["predicted rows", "gold rows"] if self.rows else []) + ["error"])

    def cells(self, s: dict[str, Any]) -> list[str]:
        state = str(s.get("status", ""))
        kind = "error" if "error" in state else "timeout" if "timeout" in state else state
        score = (s.get("scores") or {}).get(self.metric) if self.metric else None
        cells = [f"<code>{esc(s.get('id'))}</code>"] + ([esc(s.get("db_id"))] if self.db else [])
        cells += [esc(s.get("tier")), f"<span class=\"status-{slugify(kind)}\">{esc(state)}</span>",
                  esc(format_value("score", score))]
        cells += [esc(s.get("question"))] if self.question else []
        cells += [f"<pre class=\"{side}\">{esc(s.get(side))}</pre>" for side in ("pred", "gold")]
        cells += [_preview(s.get(f"{side}_rows")) for side in ("pred", "gold")] if self.rows else []
        cells.append(f"<pre class=\"error\">{esc(s.get('error'))}</pre>")
        return [f"<td>{c}</td>" for c in cells]


def render_run_page(run: RunRecord, row: dict[str, Any], index_url: str) -> str:
    """A run's page: what it is, its scores, and every sample with prediction and gold."""
    samples = [run.samples[k] for k in sorted(run.samples, key=id_order)]
    meta = "".join(
        f"<dt>{_header(k)}</dt><dd>{esc(v if k == 'git_revision' else format_value(k, v))}</dd>"
        for k, v in row.items() if v is not None)
    meta += f"<dt>path</dt><dd><code>{esc(run.path)}</code></dd>"
    status = (run.results.get("overall") or {}).get("status") or {}
    meta += "<dt>status</dt><dd>" + esc(", ".join(f"{k} {v}" for k, v in status.items())) + "</dd>"
    shown = SampleColumns.of(samples, row.get("metric"))
    body = "\n".join(f"<tr id=\"sample-{esc(slugify(str(s.get('id'))))}\">"
                     f"{''.join(shown.cells(s))}</tr>" for s in samples)
    page = (
        f"<p><a href=\"{esc(index_url)}\">&larr; leaderboard</a></p>\n"
        f"<h1>{esc(row['run'])}</h1>\n<dl class=\"meta\">{meta}</dl>\n"
        f"<h2>Samples ({len(samples)})</h2>\n<table id=\"samples\"><thead><tr>"
        + "".join(f"<th scope=\"col\">{esc(h)}</th>" for h in shown.heads())
        + f"</tr></thead>\n<tbody>\n{body}\n</tbody></table>\n"
        "<script type=\"application/json\" id=\"run-data\">"
        f"{json_for_script({'row': row, 'samples': samples})}</script>"
    )
    return _page(f"{row['run']} - leaderboard", page)


def write_site(runs: list[RunRecord], out_html: Path) -> list[Path]:
    """Write ``out_html`` and ``runs/<slug>.html`` beside it; the paths written, index first."""
    out_html = Path(out_html)
    pages_dir = out_html.parent / "runs"
    pages_dir.mkdir(parents=True, exist_ok=True)
    rows = leaderboard_rows(runs)
    by_name = dict(zip(run_names([r.path for r in runs]), runs))
    pages: dict[str, str] = {}
    written: list[Path] = []
    for row in rows:
        slug = base = slugify(row["run"])
        n = 2
        while f"runs/{slug}.html" in pages.values():
            slug, n = f"{base}-{n}", n + 1
        pages[row["run"]] = f"runs/{slug}.html"
        path = pages_dir / f"{slug}.html"
        path.write_text(render_run_page(by_name[row["run"]], row, f"../{quote(out_html.name)}"),
                        encoding="utf-8")
        written.append(path)
    out_html.write_text(render_index(rows, pages), encoding="utf-8")
    return [out_html, *written]
