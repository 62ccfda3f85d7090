"""The leaderboard site's inline CSS and JavaScript (kept apart from the HTML builder).

Nothing here loads anything: no fonts, no images, no libraries. The pages carry a
Content-Security-Policy that allows only these inline blocks (by hash), so a script that
slipped into a page (it cannot: every user string is escaped) still would not run.
"""

from __future__ import annotations

CSS = """
:root { --fg: #1d2330; --muted: #5b6474; --line: #d9dde5; --head: #f2f4f8;
  --ok: #1b7f3b; --bad: #b3261e; --warn: #a05a00; --bar: #3b6fd4; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
  margin: 1.5rem 1rem; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; } h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
.muted { color: var(--muted); }
.filters { display: flex; gap: 1rem; align-items: center; margin: 1rem 0; flex-wrap: wrap; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .5rem; text-align: left;
  vertical-align: top; }
thead th { background: var(--head); position: sticky; top: 0; white-space: nowrap; }
#leaderboard thead th { cursor: pointer; user-select: none; }
#leaderboard thead th[aria-sort=ascending]::after { content: " \\25B2"; }
#leaderboard thead th[aria-sort=descending]::after { content: " \\25BC"; }
#leaderboard td { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr[hidden], figure[hidden] { display: none; }
code, pre { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { margin: 0; white-space: pre-wrap; word-break: break-word; max-width: 40rem; }
.status-match { color: var(--ok); font-weight: 600; }
.status-mismatch { color: var(--bad); font-weight: 600; }
.status-error, .status-timeout { color: var(--warn); font-weight: 600; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
figure.chart { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: .5rem; }
figure.chart figcaption { font-weight: 600; margin-bottom: .25rem; }
svg text { font: 11px system-ui, sans-serif; fill: var(--fg); }
svg .bar { fill: var(--bar); } svg .axis { stroke: var(--line); }
table.rows { width: auto; margin-top: .25rem; } table.rows td { padding: 0 .4rem; border: 0; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; }
"""

# Sorts the table on a header click (numbers as numbers, empty cells last, a second click
# reverses) and shows only rows and charts whose suite and method match the selects.
INDEX_JS = """
(function () {
  "use strict";
  var table = document.getElementById("leaderboard");
  var body = table.tBodies[0];
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  function key(cell) {
    return cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
  }
  function compare(a, b) {
    if (a === "" || b === "") { return (a === "") - (b === ""); }
    var x = Number(a), y = Number(b);
    if (isFinite(x) && isFinite(y)) { return x - y; }
    return a.localeCompare(b, undefined, {numeric: true, sensitivity: "base"});
  }
  headers.forEach(function (th, index) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (r1, r2) {
        var a = key(r1.cells[index]), b = key(r2.cells[index]);
        if (a === "" || b === "") { return compare(a, b); }  // empty stays last both ways
        return ascending ? compare(a, b) : compare(b, a);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
  var suite = document.getElementById("filter-suite");
  var method = document.getElementById("filter-method");
  var shown = document.getElementById("shown");
  function filter() {
    var count = 0;
    document.querySelectorAll("[data-suite][data-method]").forEach(function (el) {
      var keep = (!suite.value || el.getAttribute("data-suite") === suite.value) &&
                 (!method.value || el.getAttribute("data-method") === method.value);
      el.hidden = !keep;
      if (keep && el.tagName === "TR") { count += 1; }
    });
    shown.textContent = String(count);
  }
  suite.addEventListener("change", filter);
  method.addEventListener("change", filter);
  filter();
})();
"""
