"""The report's pages: the index (compiles grouped by frame), one page per compile, one page per
user source file. Each function returns a whole HTML document as a string."""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Mapping
from pathlib import Path

from dynajit.trace.report_html import (
    count,
    h,
    link,
    location_text,
    minibar,
    page,
    phase_chart,
    pre,
    pretty_json,
    seconds,
    section,
    stat,
    status_badge,
)
from dynajit.trace.report_log import Entry
from dynajit.trace.report_model import (
    Compile,
    Frame,
    SourceRef,
    Trace,
    frame_anchor,
    graph_code_anchor,
    graph_code_location,
    graph_code_location_removed,
    number,
    stack_frames,
)

# Records that have their own section on a compile page; everything else is shown generically.
_OWN_KINDS = {"dynamo_start", "compilation_metrics", "dynamo_output_graph", "dynamo_guards"}
_OWN_ARTIFACTS = {
    "recompile_reasons", "dynamo_graph_break_reason", "dynamo_error", "dynajit_graph_code",
    "dynajit_bytecode_before", "dynajit_bytecode_after",
}
_TITLES = {
    "dynamo_cpp_guards_str": "Guard tree",
    "aot_joint_graph": "Joint graph (forward + backward)",
    "aot_forward_graph": "Forward graph",
    "aot_backward_graph": "Backward graph",
    "aot_inference_graph": "Inference graph",
    "inductor_output_code": "Output code",
    "dynajit_partition": "Partition decisions",
    "dynajit_fusion_groups": "Fusion groups",
}

SourceLines = Mapping[str, "list[str] | None"]


def _record_tag(c: Compile, e: Entry) -> str:
    """Which attempt a record belongs to (when there are several), and whether it is damaged."""
    tag = ""
    if len(c.attempts) > 1:
        tag = f'<span class="badge">attempt {e.attempt} {h(e.compile_id.display())}</span>'
    if not e.md5_ok:
        tag += ('<div class="note">payload MD5 mismatch (log line '
                f"{e.lineno}): the text may be damaged</div>")
    return tag


def _frame_title(frame: Frame, trace: Trace) -> str:
    loc = frame.location
    where = ""
    if loc is not None:
        where = link(trace.source_link(loc[0], loc[1]), f"{loc[0]}:{loc[1]}")
    log = ""
    if len(trace.logs) > 1:
        log = f'<span class="badge">{h(frame.log.path.name)}</span>'
    ident = "-" if frame.frame_id is None else frame.frame_id
    return (f'<div class="frame-head"><h2 class="frame-name">{h(frame.co_name)}</h2>'
            f'<span class="loc">{where}</span><span class="badge">frame {h(ident)}</span>'
            f"{log}</div>")


def _compile_row(c: Compile, scale: float) -> str:
    attempts = "".join(f'<span class="badge">_{a}</span>' for a in c.attempts if a)
    return (
        f'<tr class="compile-row" data-compile-id="{h(c.display_id)}" '
        f'data-status="{h(c.status)}">'
        f'<td><a class="compile-link" href="{h(c.page)}">{h(c.display_id)}</a>{attempts}</td>'
        f"<td>{status_badge(c.status)}</td>"
        f'<td class="num">{h(seconds(c.compile_time_s))}'
        f"{minibar(c.phase_times, c.compile_time_s, scale)}</td>"
        f'<td class="num">{h(count(number(c.metric("graph_op_count"))))}</td>'
        f'<td class="num">{h(count(number(c.metric("graph_node_count"))))}</td>'
        f'<td class="num">{h(count(number(c.metric("guard_count"))))}</td>'
        f'<td>{h(c.metric("dynajit_backend") or "—")}</td>'
        f'<td class="reason" title="{h(c.summary_reason)}">{h(c.summary_reason)}</td></tr>')


def _malformed_section(trace: Trace) -> str:
    rows = []
    for log in trace.logs:
        for m in log.malformed_examples:
            rows.append(f"<tr><td>{h(log.path.name)}:{m.lineno}</td><td>{h(m.reason)}</td>"
                        f'<td class="mono">{h(m.text)}</td></tr>')
    if not rows:
        return ""
    body = (f'<p>{trace.malformed_count} line(s) could not be read and were skipped '
            "(examples below).</p><details><summary>skipped lines</summary><table>"
            "<tr><th>where</th><th>why</th><th>text</th></tr>" + "".join(rows)
            + "</table></details>")
    return section("malformed", "Skipped lines", body)


def _outside_section(trace: Trace) -> str:
    if not trace.outside:
        return ""
    rows = "".join(
        f"<tr><td>{h(trace.logs[i].path.name)}:{e.lineno}</td><td>{h(e.kind)}</td>"
        f"<td>{_entry_body(e)}</td></tr>" for i, e in trace.outside)
    return section("outside", "Records outside any compile",
                   f"<table><tr><th>where</th><th>kind</th><th>content</th></tr>{rows}</table>")


def _logs_section(trace: Trace, trace_dir: Path) -> str:
    rows = []
    for log in trace.logs:
        notes = []
        if log.md5_mismatches:
            notes.append(f"{log.md5_mismatches} payload MD5 mismatch(es)")
        if log.bad_compile_ids:
            notes.append(f"{log.bad_compile_ids} record(s) with an invalid compile id")
        rows.append(f'<tr><td class="mono">{h(log.path.name)}</td>'
                    f'<td class="num">{len(log.entries)}</td>'
                    f'<td class="num">{log.malformed_count}</td><td>{h("; ".join(notes))}</td>'
                    "</tr>")
    return section("logs", "Log files", f'<p class="sub mono">{h(trace_dir)}</p><table><tr>'
                   '<th>file</th><th class="num">records</th><th class="num">skipped lines</th>'
                   "<th>notes</th></tr>" + "".join(rows) + "</table>")


def render_index(trace: Trace, trace_dir: Path) -> str:
    """The index: a summary, then every frame with its compiles."""
    total = trace.total_compile_time_s
    cards = "".join([
        stat("frames", str(len(trace.frames))),
        stat("compiles", str(len(trace.compiles))),
        stat("recompiles", str(trace.recompiles), "warn" if trace.recompiles else ""),
        stat("fallbacks", str(trace.count("fallback")), "warn" if trace.count("fallback") else ""),
        stat("errors", str(trace.count("error")), "bad" if trace.count("error") else ""),
        stat("missing metrics", str(trace.count("missing")),
             "warn" if trace.count("missing") else ""),
        stat("total compile time", seconds(total)),
        stat("skipped lines", str(trace.malformed_count), "bad" if trace.malformed_count else ""),
    ])
    scale = max((c.compile_time_s or 0.0 for c in trace.compiles), default=0.0)
    frames = []
    for frame in trace.frames:
        rows = "".join(_compile_row(c, scale) for c in frame.compiles)
        ident = frame_anchor(frame.log_index, frame.frame_id)
        frames.append(
            f'<section class="card frame" id="{h(ident)}">{_frame_title(frame, trace)}'
            '<table class="compiles"><tr><th>compile</th><th>status</th>'
            '<th class="num">compile time</th>'
            '<th class="num">graph ops</th><th class="num">nodes</th><th class="num">guards</th>'
            f"<th>backend</th><th>reason</th></tr>{rows}</table></section>")
    if not frames:
        frames.append(section("frames", "No compiles", '<p class="note">The logs hold no '
                              "compile records.</p>"))
    body = (f'<h1>Compiles</h1><div class="sub">{len(trace.logs)} log file(s) in '
            f'<span class="mono">{h(trace_dir)}</span></div>'
            f'<div class="cards" id="summary">{cards}</div>'
            + _malformed_section(trace) + "".join(frames) + _outside_section(trace)
            + _logs_section(trace, trace_dir))
    return page("dynajit report", [("index", None)], body)


def _entry_body(e: Entry) -> str:
    """Any record, generically: a link, JSON pretty-printed, text as <pre>, else its metadata."""
    if e.kind == "link" and isinstance(e.meta, dict):
        url, name = str(e.meta.get("url", "")), str(e.meta.get("name", "link"))
        # Only web links are clickable: a javascript: or data: URL must never become one.
        return link(url if url.startswith(("https://", "http://")) else None, name, url)
    meta = ""
    if isinstance(e.meta, dict):
        shown = {k: v for k, v in e.meta.items() if k not in ("name", "encoding")}
        if shown:
            meta = f'<div class="sub mono">{h(pretty_json(shown))}</div>'
    elif e.meta not in (None, {}, []):
        meta = f'<div class="sub mono">{h(pretty_json(e.meta))}</div>'
    if e.payload is None:
        return meta or '<span class="note">no payload</span>'
    encoding = e.meta.get("encoding") if isinstance(e.meta, dict) else None
    text = e.payload
    if encoding == "json" or e.kind == "chromium_event":
        try:
            text = pretty_json(e.json_payload())
        except ValueError:
            meta += '<div class="note">payload is not valid JSON; shown as written</div>'
    return meta + pre(text)


def _stack_section(trace: Trace, c: Compile) -> str:
    parts = []
    for e in c.kind("dynamo_start"):
        stack = e.meta.get("stack") if isinstance(e.meta, dict) else None
        rows = []
        for fname, line, name, loc in stack_frames(c.log, stack):
            where = "(unknown file)" if fname is None else location_text(fname, line)
            href = None if fname is None else trace.source_link(fname, line)
            rows.append(f"<tr><td>{link(href, where, fname)}</td><td>{h(name)}</td>"
                        f'<td class="mono">{h(loc)}</td></tr>')
        if rows:
            parts.append(_record_tag(c, e) + "<table><tr><th>where</th><th>function</th>"
                         f"<th>code</th></tr>{''.join(rows)}</table>")
    if not parts:
        return ""
    return section("stack", "Called from (user stack, outermost first)", "".join(parts))


def _reasons_list(reasons: list[str]) -> str:
    return "<ul>" + "".join(f'<li class="mono">{h(r)}</li>' for r in reasons) + "</ul>"


def _breaks_section(c: Compile) -> str:
    parts = [_record_tag(c, e) + pre(e.payload) for e in c.artifacts("dynamo_graph_break_reason")]
    if c.restart_reasons:
        parts.append("<h3>Restart reasons</h3>" + _reasons_list(c.restart_reasons))
    if not parts:
        return ""
    return section("breaks", "Graph breaks and fallback reasons", "".join(parts))


def _errors_section(trace: Trace, c: Compile) -> str:
    parts = []
    fail_type, fail_reason = c.metric("fail_type"), c.metric("fail_reason")
    if fail_type or fail_reason:
        where = ""
        fname, line = c.metric("fail_user_frame_filename"), number(
            c.metric("fail_user_frame_lineno"))
        if isinstance(fname, str):
            line_no = None if line is None else int(line)
            where = " at " + link(trace.source_link(fname, line_no),
                                  location_text(fname, line_no), fname)
        parts.append(f'<p><b class="mono">{h(fail_type or "error")}</b>: {h(fail_reason)}'
                     f"{where}</p>")
    for e in c.artifacts("dynamo_error"):
        parts.append(_record_tag(c, e) + "<h3>Traceback</h3>" + pre(e.payload))
    if not parts:
        return ""
    return section("errors", "Errors", "".join(parts))


def _graph_code_listing(trace: Trace, c: Compile, pos: int, sources: SourceLines) -> str:
    e = c.entries[pos]
    rows = []
    for i, line in enumerate((e.payload or "").split("\n"), 1):
        where = graph_code_location(line)
        src_cell = user_cell = ""
        if where is not None:
            fname, lineno = where
            src_cell = link(trace.source_link(fname, lineno), location_text(fname, lineno), fname)
            text = sources.get(fname)
            if text is not None and 0 < lineno <= len(text):
                user_cell = text[lineno - 1].strip()
            else:
                ref = trace.sources.get(fname)
                user_cell = ref.loc_text.get(lineno, "") if ref else ""
            # The location is in its own column; keep the line short.
            line = graph_code_location_removed(line)
        rows.append(f'<tr class="graph-code-line" id="{graph_code_anchor(pos, i)}">'
                    f'<td class="ln">{i}</td><td>{h(line)}</td>'
                    f'<td class="src">{src_cell}</td>'
                    f'<td class="user" title="{h(user_cell)}">{h(user_cell)}</td></tr>')
    head = ("<tr><th></th><th>generated code</th><th>user line</th><th>user code</th></tr>")
    return (_record_tag(c, e) + '<div class="listing"><table class="graph-code">' + head
            + "".join(rows)
            + "</table></div>")


def _guards_section(c: Compile) -> str:
    parts = []
    for e in c.kind("dynamo_guards"):
        try:
            guards = e.json_payload()
        except ValueError:
            guards = None
        if isinstance(guards, list):
            items = "".join(
                f'<li class="mono">{h(g.get("code") if isinstance(g, dict) else g)}</li>'
                for g in guards)
            parts.append(_record_tag(c, e) + f'<ol class="guards">{items}</ol>')
        else:
            parts.append(_record_tag(c, e) + '<p class="note">guards payload is not a JSON '
                         "list; shown as written</p>" + pre(e.payload))
    if not parts:
        return ""
    return section("guards", f"Guards ({count(number(c.metric('guard_count')))})", "".join(parts))


def _summary_cards(c: Compile) -> str:
    start = number(c.metric("start_time"))
    started = ""
    if start is not None:
        with contextlib.suppress(OverflowError, OSError, ValueError):
            when = datetime.datetime.fromtimestamp(start, datetime.UTC)
            started = when.strftime("%Y-%m-%d %H:%M:%S UTC")
    return '<div class="cards">' + "".join([
        stat("status", {"missing": "missing metrics"}.get(c.status, c.status),
             {"error": "bad", "fallback": "warn", "missing": "warn"}.get(c.status, "")),
        stat("compile time", seconds(c.compile_time_s)),
        stat("graph ops", count(number(c.metric("graph_op_count")))),
        stat("nodes", count(number(c.metric("graph_node_count")))),
        stat("inputs", count(number(c.metric("graph_input_count")))),
        stat("guards", count(number(c.metric("guard_count")))),
        stat("cache entries", count(number(c.metric("cache_size")))),
        stat("backend", str(c.metric("dynajit_backend") or "—")),
    ]) + "</div>" + (f'<div class="sub">started {h(started)}</div>' if started else "")


def _banner(c: Compile) -> str:
    if c.status == "ok":
        return ""
    text = {
        "error": "The compiler failed.",
        "fallback": "The frame fell back to eager execution.",
        "missing": "No compilation_metrics record: the process may have stopped mid-compile.",
    }.get(c.status, "")
    reason = c.summary_reason
    return (f'<div class="banner {h(c.status)}">{status_badge(c.status)} {h(text)}'
            + (f'<div class="mono">{h(reason)}</div>' if reason else "") + "</div>")


def render_compile(trace: Trace, position: int, sources: SourceLines) -> str:
    """``trace.compiles[position]``: summary, time per phase, stack, reasons, errors, graph,
    graph code linked to the user's lines, guards, bytecode, any other record, metrics."""
    c = trace.compiles[position]
    sections: list[tuple[str, str, str]] = []  # (anchor, title, html)

    def add(anchor: str, title: str, body: str) -> None:
        if body:
            sections.append((anchor, title, body))

    phases = c.phase_times
    if phases:
        add("phases", "Compile time by phase",
            section("phases", "Compile time by phase", phase_chart(phases, c.compile_time_s)))
    add("stack", "Stack", _stack_section(trace, c))
    recompile = c.recompile_reasons
    if recompile:
        add("recompile", "Recompile reasons", section(
            "recompile", "Recompile reasons (guards that failed)", _reasons_list(recompile)))
    add("breaks", "Graph breaks", _breaks_section(c))
    add("errors", "Errors", _errors_section(trace, c))
    graphs = "".join(_record_tag(c, e) + pre(e.payload) for e in c.kind("dynamo_output_graph"))
    if graphs:
        add("graph", "Graph", section("graph", "Graph", graphs))
    code = "".join(_graph_code_listing(trace, c, pos, sources)
                   for pos, e in enumerate(c.entries) if e.artifact_name == "dynajit_graph_code")
    if code:
        add("graph-code", "Graph code", section(
            "graph-code", "Generated graph code → user source", code))
    add("guards", "Guards", _guards_section(c))
    for name, title in (("dynajit_bytecode_before", "Bytecode before"),
                        ("dynajit_bytecode_after", "Bytecode after (entry code)")):
        body = "".join(_record_tag(c, e) + pre(e.payload) for e in c.artifacts(name))
        if body:
            anchor = name.replace("dynajit_", "").replace("_", "-")
            add(anchor, title, section(anchor, title, body))
    for i, e in enumerate(c.entries):
        if e.kind in _OWN_KINDS or e.artifact_name in _OWN_ARTIFACTS:
            continue
        name = e.artifact_name or e.kind
        title = _TITLES.get(name, name)
        anchor = f"record-{i}"
        add(anchor, title, section(anchor, title, _record_tag(c, e) + _entry_body(e)))
    metrics = c.metrics
    if metrics is not None:
        rows = "".join(f'<tr><td class="mono">{h(k)}</td><td class="mono">'
                       f"{h(pretty_json(v) if isinstance(v, (dict, list)) else v)}</td></tr>"
                       for k, v in metrics.items())
        add("metrics", "All metrics", section(
            "metrics", "All metrics", f"<details><summary>compilation_metrics ({len(metrics)} "
            f"fields)</summary><table>{rows}</table></details>"))
    if not sections:
        sections.append(("empty", "", '<p class="note">No records for this compile.</p>'))

    frame_name = c.metric("co_name") or f"frame {c.compile_id.frame}"
    neighbours = []
    if position > 0:
        neighbours.append(link(trace.compiles[position - 1].page, "← previous compile"))
    if position + 1 < len(trace.compiles):
        neighbours.append(link(trace.compiles[position + 1].page, "next compile →"))
    toc = "".join(f'<a href="#{h(a)}">{h(t)}</a>' for a, t, _ in sections if t)
    where = ""
    fname, first = c.metric("co_filename"), number(c.metric("co_firstlineno"))
    if isinstance(fname, str):
        line = None if first is None else int(first)
        where = link(trace.source_link(fname, line), f"{fname}:{'' if line is None else line}")
    body = (f'<h1><span id="compile-id">{h(c.display_id)}</span> {h(frame_name)} '
            f"{status_badge(c.status)}</h1>"
            f'<div class="sub mono">{where}</div>{_banner(c)}{_summary_cards(c)}'
            f'<nav class="toc">{toc}<span style="flex:1"></span>{" ".join(neighbours)}</nav>'
            + "".join(html for _, _, html in sections))
    return page(f"{c.display_id} {frame_name} · dynajit report",
                [(str(frame_name), "index.html#" + frame_anchor(c.log_index, c.compile_id.frame)),
                 (c.display_id, None)], body)


_MAX_USERS_SHOWN = 12


def _users(users: list[tuple[Compile, str]]) -> str:
    """Links to the compiles that name a source line (the first few, then a count)."""
    shown = " ".join(
        f'<a class="badge" href="{h(c.page)}{"#" + h(anchor) if anchor else ""}">'
        f"{h(c.display_id)}</a>" for c, anchor in users[:_MAX_USERS_SHOWN])
    more = len(users) - _MAX_USERS_SHOWN
    return shown + (f' <span class="note">+{more} more</span>' if more > 0 else "")


def render_source(trace: Trace, ref: SourceRef, lines: list[str] | None) -> str:
    """A user source file with a line anchor per line, marking the lines the records name."""
    title = location_text(ref.filename, None)
    if lines is not None:
        rows = []
        for n, text in enumerate(lines, 1):
            users = ref.lines.get(n)
            cls = ' class="hit"' if users else ""
            rows.append(f'<tr id="L{n}"{cls}><td class="ln"><a href="#L{n}">{n}</a></td>'
                        f"<td>{h(text)}</td>"
                        f'<td class="users">{_users(users or [])}</td></tr>')
        # Lines past the end (the file changed since the trace) still get their anchors.
        for n in sorted(k for k in ref.lines if k > len(lines) or k < 1):
            rows.append(f'<tr id="L{n}" class="hit"><td class="ln">{n}</td>'
                        f'<td><span class="note">(past the end of the file on disk)</span> '
                        f"{h(ref.loc_text.get(n, ''))}</td>"
                        f'<td class="users">{_users(ref.lines[n])}</td></tr>')
        note = ('<p class="note">Read from disk when the report was written; it may differ '
                "from the code that was traced.</p>")
        body = note + '<div class="listing"><table>' + "".join(rows) + "</table></div>"
    else:
        rows = "".join(
            f'<tr id="L{n}" class="hit"><td class="ln">{n}</td>'
            f"<td>{h(ref.loc_text.get(n, ''))}</td>"
            f'<td class="users">{_users(ref.lines[n])}</td></tr>'
            for n in sorted(ref.lines))
        body = ('<p class="note">This file could not be read when the report was written; '
                "only the lines the trace names are shown (with their text when the trace "
                "recorded it).</p>"
                + ('<div class="listing"><table>' + rows + "</table></div>" if rows else ""))
    return page(f"{title} · dynajit report", [(title, None)],
                f'<h1>{h(title)}</h1><div class="sub mono">{h(ref.filename)}</div>{body}')
