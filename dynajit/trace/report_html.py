"""HTML building blocks of the report: the page shell with its inline style sheet, escaping,
number formatting, status badges, bar charts and code listings. Pages load nothing: the style
is inline and a Content-Security-Policy forbids every fetch."""

from __future__ import annotations

import html
import json
from typing import Any

from dynajit.trace.report_model import STATUS_LABELS

GENERATOR = "dynajit report"

# Phase colours in a fixed order, so one phase has one colour on every page.
PHASE_COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#eeca3b",
                 "#9d755d")
KNOWN_PHASES = ("trace", "passes", "backend", "guards", "output_code")
OTHER_PHASE = "other (not in a phase)"

CSS = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,
 sans-serif;color:#1d2330;background:#f4f6f9}
a{color:#1f5fbf;text-decoration:none}a:hover{text-decoration:underline}
header.top{background:#1d2330;color:#e8ecf3;padding:10px 24px;display:flex;gap:16px;
 align-items:baseline;flex-wrap:wrap}
header.top a{color:#9cc3ff}header.top .brand{font-weight:700;letter-spacing:.3px}
header.top .crumb{color:#b8c2d3}
main{max-width:1240px;margin:0 auto;padding:18px 24px 48px}
h1{font-size:22px;margin:6px 0 4px}h2{font-size:17px;margin:0 0 10px}
h3{font-size:14px;margin:14px 0 6px;color:#3a4356}
.sub{color:#5b6578;margin-bottom:14px}
section.card{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:14px 18px;
 margin:14px 0;box-shadow:0 1px 2px rgba(20,30,50,.04)}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0 4px}
.stat{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:8px 14px;min-width:112px}
.stat .v{font-size:20px;font-weight:650}.stat .k{color:#5b6578;font-size:12px}
.stat.warn .v{color:#b35c00}.stat.bad .v{color:#c0262d}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e9edf3;vertical-align:top}
th{font-size:12px;color:#5b6578;font-weight:600;background:#f8f9fb}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.frame-head{display:flex;gap:12px;align-items:baseline;flex-wrap:wrap}
.frame-head .loc{color:#5b6578;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
 font-size:12.5px}
.status{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;
 white-space:nowrap}
.status-ok{background:#e3f4e1;color:#1e6b1a}.status-fallback{background:#fff1d6;color:#8a5300}
.status-error{background:#fde2e1;color:#a61b22}.status-missing{background:#e9ebf0;color:#4a5366}
.badge{display:inline-block;padding:0 6px;border-radius:8px;background:#e8eefb;color:#2a4f8f;
 font-size:11.5px;margin-left:4px}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
pre{background:#f7f8fa;border:1px solid #e3e7ee;border-radius:6px;padding:10px 12px;margin:6px 0;
 overflow:auto;max-height:640px;white-space:pre}
.minibar{display:flex;height:8px;width:120px;background:#eef1f5;border-radius:4px;
 overflow:hidden;margin:3px 0 0 auto}
table.compiles{table-layout:fixed}
table.compiles th:nth-child(1){width:110px}table.compiles th:nth-child(2){width:130px}
table.compiles th:nth-child(3){width:150px}table.compiles th:nth-child(4){width:90px}
table.compiles th:nth-child(5){width:70px}table.compiles th:nth-child(6){width:70px}
table.compiles th:nth-child(7){width:130px}
td.reason{overflow:hidden;text-overflow:ellipsis;white-space:nowrap;color:#5b6578}
.minibar span{display:block;height:100%}
.bars{display:grid;grid-template-columns:max-content 1fr max-content;gap:6px 12px;
 align-items:center}
.track{background:#eef1f5;border-radius:4px;height:14px;overflow:hidden}
.track span{display:block;height:100%;border-radius:4px}
.stacked{display:flex;height:18px;border-radius:4px;overflow:hidden;margin:4px 0 12px;
 background:#eef1f5}
.stacked span{display:block;height:100%}
.listing{background:#f7f8fa;border:1px solid #e3e7ee;border-radius:6px;overflow:auto;
 max-height:720px}
.listing table td{border:0;padding:0 10px;white-space:pre;font-family:ui-monospace,
 SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;line-height:1.6}
.listing td.ln{color:#8a93a6;text-align:right;user-select:none;width:1%}
.listing td.ln a{color:#8a93a6}
.listing tr.hit td{background:#fff7d1}.listing tr:target td{background:#ffe28a}
.listing td.src{width:1%}.listing td.user{color:#5b6578}
.listing td.users{white-space:nowrap;font-family:inherit;width:1%}
.listing table.graph-code{table-layout:fixed}
.listing table.graph-code td{white-space:pre-wrap;overflow-wrap:anywhere}
.graph-code th:nth-child(1){width:44px}.graph-code th:nth-child(2){width:55%}
.graph-code th:nth-child(3){width:150px}
.listing table.graph-code td.src,.listing table.graph-code td.user{white-space:nowrap;
 overflow:hidden;text-overflow:ellipsis}
ol.guards{margin:0;padding-left:28px}ol.guards li{padding:2px 0}
.toc{display:flex;flex-wrap:wrap;gap:6px 14px;font-size:13px;margin:8px 0}
.note{color:#5b6578;font-style:italic}
.banner{border-left:4px solid #c0262d;background:#fff5f5;padding:8px 12px;border-radius:4px;
 margin:10px 0}
.banner.fallback{border-color:#d48a00;background:#fffaf0}
.banner.missing{border-color:#8a93a6;background:#f6f7f9}
details summary{cursor:pointer;color:#1f5fbf}
footer{color:#8a93a6;font-size:12px;text-align:center;padding:16px}
"""


def h(value: Any) -> str:
    """HTML-escape any value (quotes too, so it is safe inside attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def page(title: str, crumbs: list[tuple[str, str | None]], body: str) -> str:
    """A whole HTML document; ``crumbs`` are (text, href or None) after the brand link."""
    trail = "".join(f'<span class="crumb">› {link(href, text)}</span>' for text, href in crumbs)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">"
        f'<meta name="generator" content="{GENERATOR}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{h(title)}</title><style>{CSS}</style></head><body>"
        f'<header class="top"><a class="brand" href="index.html">dynajit report</a>{trail}'
        f"</header><main>{body}</main>"
        f"<footer>generated by {GENERATOR}</footer></body></html>\n")


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1.0:
        return f"{value * 1e3:.2f} ms" if value < 0.01 else f"{value * 1e3:.1f} ms"
    return f"{value:.2f} s"


def count(value: float | None) -> str:
    return "—" if value is None else str(int(value))


def status_badge(status: str) -> str:
    return (f'<span class="status status-{h(status)}" data-status="{h(status)}">'
            f"{h(STATUS_LABELS.get(status, status))}</span>")


def phase_colours(names: list[str]) -> list[str]:
    """A colour per phase: known phases keep theirs, "other" is grey, new ones take the rest."""
    colours, spare = [], 0
    for name in names:
        if name in KNOWN_PHASES:
            colours.append(PHASE_COLOURS[KNOWN_PHASES.index(name)])
        elif name == OTHER_PHASE:
            colours.append("#b8c0cc")
        else:
            colours.append(PHASE_COLOURS[len(KNOWN_PHASES) + spare % 3])
            spare += 1
    return colours


def _pct(part: float, whole: float) -> float:
    return 0.0 if whole <= 0 else max(0.0, min(100.0, 100.0 * part / whole))


def minibar(phases: list[tuple[str, float]], total: float | None, scale: float) -> str:
    """A small stacked bar whose length is ``total / scale`` and whose parts are the phases."""
    total = total if total is not None else sum(v for _, v in phases)
    if total <= 0 or scale <= 0:
        return ""
    width = max(4.0, _pct(total, scale))
    colours = phase_colours([name for name, _ in phases])
    parts = "".join(
        f'<span title="{h(name)}: {h(seconds(v))}" style="width:{_pct(v, total):.2f}%;'
        f'background:{colour}"></span>' for (name, v), colour in zip(phases, colours))
    return f'<div class="minibar" style="width:{width * 1.2:.1f}px">{parts}</div>'


def phase_chart(phases: list[tuple[str, float]], total: float | None) -> str:
    """Per-phase compile time as a stacked bar and one bar per phase (pure HTML and CSS)."""
    measured = sum(v for _, v in phases)
    whole = max(total or 0.0, measured)
    rows = list(phases)
    if total is not None and total - measured > 1e-9:
        rows.append((OTHER_PHASE, total - measured))
    colours = phase_colours([name for name, _ in rows])
    stacked = "".join(
        f'<span title="{h(name)}: {h(seconds(v))}" style="width:{_pct(v, whole):.2f}%;'
        f'background:{colour}"></span>' for (name, v), colour in zip(rows, colours))
    bars = "".join(
        f'<div class="phase-name" data-phase="{h(name)}">{h(name)}</div>'
        f'<div class="track"><span style="width:{_pct(v, whole):.2f}%;'
        f'background:{colour}"></span></div>'
        f'<div class="num mono">{h(seconds(v))} ({_pct(v, whole):.0f}%)</div>'
        for (name, v), colour in zip(rows, colours))
    return f'<div class="stacked">{stacked}</div><div class="bars">{bars}</div>'


def pre(text: str | None, cls: str = "") -> str:
    klass = f' class="{h(cls)}"' if cls else ""
    return f"<pre{klass}>{h(text or '')}</pre>"


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def stat(label: str, value: str, cls: str = "") -> str:
    return (f'<div class="stat {h(cls)}"><div class="v">{h(value)}</div>'
            f'<div class="k">{h(label)}</div></div>')


def section(anchor: str, title: str, body: str) -> str:
    return f'<section class="card" id="{h(anchor)}"><h2>{h(title)}</h2>{body}</section>'


def location_text(filename: str, line: int | None) -> str:
    short = filename.rsplit("/", 1)[-1]
    return short if line is None else f"{short}:{line}"


def link(href: str | None, text: str, title: str | None = None) -> str:
    tip = f' title="{h(title)}"' if title else ""
    if href is None:
        return f"<span{tip}>{h(text)}</span>"
    return f'<a href="{h(href)}"{tip}>{h(text)}</a>'
