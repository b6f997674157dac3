"""``dynajit.explain`` and ``python -m dynajit explain``: what compiling did (graphs, graph
breaks with their reason, user stack and a hint, guards, compile times), read from the same
records the structured trace writes, received in-process through ``trace.listen``."""

from __future__ import annotations

import collections
import dataclasses
import os
import re
import runpy
import sys
import threading
import traceback
import types
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from dynajit.trace import structured


class StackFrame(NamedTuple):
    filename: str
    line: int
    name: str | None  # None where the record does not say
    source: str

    @property
    def site(self) -> str:
        return f"{self.filename}:{self.line}"


@dataclasses.dataclass
class BreakReason:
    """One graph break (or whole-frame fallback): one ``dynamo_graph_break_reason`` record."""

    category: str  # e.g. "data-dependent branch", "side effect" (see CATEGORIES)
    message: str  # the reason, without the file:line
    user_stack: list[tuple[str, str]]  # ("file:line", source text), outermost first
    instruction: str | None  # "CALL 1", "POP_JUMP_IF_FALSE to 24", when the record says
    site: str  # "file:line" where it broke (the last frame of user_stack)
    function: str  # the compiled frame (its co_name) in which the break was found
    compile_id: str
    action: str  # what dynajit did: resumed after the instruction, or ran the frame eagerly
    hint: str | None  # what to change, where one is known

    def __str__(self) -> str:
        lines = [f"{self.compile_id} {self.function}: {self.category} at {self.site}",
                 f"    {self.message}"]
        if self.instruction:
            lines.append(f"    instruction: {self.instruction}")
        lines.append(f"    action: {self.action}")
        lines.append("    user stack (outermost first):")
        width = max((len(site) for site, _ in self.user_stack), default=0)
        lines += [f"      {site:<{width}}  {text}".rstrip() for site, text in self.user_stack]
        if self.hint:
            lines.append(f"    hint: {self.hint}")
        return "\n".join(lines)


@dataclasses.dataclass
class CompileRecord:
    """One compile of one frame ``[x/y]``, as its records describe it."""

    compile_id: str
    function: str = "?"
    filename: str = "?"
    firstlineno: int = 0
    status: str = "missing"  # "ok", "fallback", "error"; "missing" without metrics
    op_count: int | None = None  # None when no graph was built
    guards: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    phase_times_s: dict[str, float] = dataclasses.field(default_factory=dict)
    recompile_reasons: list[str] = dataclasses.field(default_factory=list)
    breaks: list[BreakReason] = dataclasses.field(default_factory=list)
    error: str | None = None  # the last line of a compiler crash's traceback
    stack: list[StackFrame] = dataclasses.field(default_factory=list)  # callers + this def
    # Gradient compiles: the partitioner's decision (dynajit_partition records).
    partitions: list[dict] = dataclasses.field(default_factory=list)

    @property
    def has_graph(self) -> bool:
        """A graph with at least one op was compiled (empty graphs are not counted)."""
        return self.status == "ok" and bool(self.op_count)


# ----------------------------------------------------------------------------- categories
def _reason_rule(category: str, pattern: str, hint: str | None) -> tuple:
    return category, re.compile(pattern), hint


_SIDE_EFFECT_CALLS = (r"(builtins\.)?(print|input|open)|_?warnings\.\w+|logging\.[\w.]+|"
                      r"time\.\w+|sys\.std(out|err)\.\w+|random\.\w+|os\.\w+")

# First match wins. The hint may name a group of the pattern: {callee}.
_REASON_RULES = [
    _reason_rule("try/with block", r"^code inside a try/except/with block",
                 "move the try/except/with block out of the compiled function, or compile "
                 "the code inside it as a function of its own"),
    _reason_rule("try/with block", r"^bytecode (BEFORE_WITH|SETUP_WITH|BEFORE_ASYNC_WITH)\b",
                 "move the with block out of the compiled function, or compile its body as "
                 "a function of its own"),
    _reason_rule("unsupported bytecode", r"^bytecode (IMPORT_NAME|IMPORT_FROM)\b",
                 "move the import to module level"),
    _reason_rule("unsupported bytecode", r"^bytecode \w+ is not supported",
                 "rewrite this statement, or move it out of the compiled function"),
    _reason_rule("data-dependent branch", r"^branching on an array value",
                 "replace `if` on an array with np.where, or decide the branch outside the "
                 "compiled function"),
    _reason_rule("data-dependent branch", r"`in` with array values",
                 "compare with np.isin / np.any instead of `in`"),
    _reason_rule("data-dependent value",
                 r"method 'item'|\.item\(\)|^(float|int|bool|complex|len)\(\) of an array",
                 "use .item() / float() outside compiled code: return the array and convert "
                 "it in the caller"),
    _reason_rule("data-dependent value", r"^formatting an array value",
                 "format (and print) arrays outside the compiled function"),
    _reason_rule("data-dependent value", r"compares data \(use (?P<callee>np\.\w+)\)",
                 "use {callee} instead of the builtin"),
    _reason_rule("data-dependent shape", r"boolean ind\w+ .*data-dependent shape",
                 "keep the shape with np.where(mask, x, 0), or index with the mask outside "
                 "the compiled function"),
    _reason_rule("unsupported NumPy function",
                 r"^(?P<callee>\S+) has no entry in dynajit's op registry",
                 "register the NumPy function ({callee}) in dynajit/ops, or call it outside "
                 "the compiled function"),
    _reason_rule("side effect", rf"^call to (?P<callee>{_SIDE_EFFECT_CALLS}) ",
                 "move {callee} out of the compiled function"),
    _reason_rule("side effect", r"^storing attribute",
                 "store the attribute outside the compiled function, or on an object passed "
                 "in as an argument"),
    _reason_rule("unsupported call", r"is marked @dynajit\.disable",
                 None),  # the break is what the user asked for
    _reason_rule("unsupported call", r"^inlining deeper than config\.inline_depth",
                 "recursion or deep calls: raise config.inline_depth, or let the callee be "
                 "compiled as a frame of its own"),
    _reason_rule("unsupported Python construct", r"is a generator or coroutine",
                 "use a list comprehension or a loop instead of a generator"),
    _reason_rule("unsupported Python construct", r"^sets are not supported",
                 "use a tuple, list or dict instead of a set"),
    _reason_rule("unsupported call", r"^call to (?P<callee>\S+) ",
                 "call {callee} outside the compiled function"),
    _reason_rule("unsupported call", r"^calling |^cannot guard the (globals|closure) of ",
                 "call this function outside the compiled function"),
    _reason_rule("recompile limit", r"^cache_size_limit \(\d+\) reached",
                 "shapes, dtypes or constant arguments keep changing: make them stable, or "
                 "raise config.cache_size_limit"),
]

CATEGORIES = ("data-dependent branch", "data-dependent value", "data-dependent shape",
              "unsupported NumPy function", "side effect", "unsupported call",
              "unsupported bytecode", "unsupported Python construct", "try/with block",
              "input type", "recompile limit", "other")


def classify(message: str, action: str = "") -> tuple[str, str | None]:
    """(category, hint) of a break reason. A reason that only concerns this call's inputs
    (the frame compiles again for other inputs) is an "input type" break."""
    if "for these inputs" in action:
        return "input type", ("these inputs cannot be compiled (see the reason); pass plain, "
                              "writable ndarrays of supported dtypes, each object once")
    for category, pattern, hint in _REASON_RULES:
        match = pattern.search(message)
        if match:
            return category, hint and hint.format(**match.groupdict())
    return "other", None


# ----------------------------------------------------------------------------- records
_FRAME_LINE = re.compile(r'^  File "(?P<file>.*)", line (?P<line>\d+)(?:, in (?P<name>.+))?$')
_SECTIONS = ("Graph Break Reason:", "Instruction:", "Action:", "User code traceback:")


def parse_break_reason(text: str) -> dict[str, Any]:
    """The fields of a ``dynamo_graph_break_reason`` payload: ``site``, ``message``,
    ``instruction`` (None without an ``Instruction:`` line), ``action`` and ``frames``
    (StackFrame list, outermost first; ``name`` is None where a frame line has no
    ``, in NAME``)."""
    fields: dict[str, Any] = {"site": None, "message": "", "instruction": None, "action": "",
                              "frames": []}
    section = None
    message: list[str] = []
    frames: list[StackFrame] = fields["frames"]
    for line in text.split("\n"):
        if line.startswith("Graph break in user code at "):
            fields["site"] = line.removeprefix("Graph break in user code at ").strip()
            continue
        header = next((h for h in _SECTIONS if line.startswith(h)), None)
        if header is not None:
            section = header
            value = line[len(header):].strip()
            if header == "Graph Break Reason:":
                message.append(value)
            elif header == "Instruction:":
                fields["instruction"] = value or None
            elif header == "Action:":
                fields["action"] = value
            continue
        if section == "Graph Break Reason:":
            message.append(line)
        elif section == "User code traceback:":
            match = _FRAME_LINE.match(line)
            if match:
                frames.append(StackFrame(match["file"], int(match["line"]), match["name"], ""))
            elif line.startswith("    ") and frames:
                frames[-1] = frames[-1]._replace(source=line.strip())
    text_message = "\n".join(message).strip()
    site = fields["site"]
    if site and text_message.endswith(f" ({site})"):  # the site is said separately
        text_message = text_message.removesuffix(f" ({site})")
    fields["message"] = text_message
    return fields


class RecordCollector:
    """A ``trace.listen`` callback keeping what explain reads, per compile ``[x/y]`` (the
    attempts of one compile are merged). ``root`` says where the user stack starts: it
    returns the index of the first frame to keep (0: all)."""

    def __init__(self, root: Callable[[list[StackFrame]], int] | None = None):
        self.root = root or (lambda frames: 0)
        self._compiles: dict[tuple[int, int], CompileRecord] = {}
        self._breaks: dict[tuple[int, int], list[dict]] = {}
        self.errors: list[str] = []  # crashes recorded outside any compile
        self._lock = threading.Lock()

    def __call__(self, rec: structured.Record) -> None:
        handler = self._HANDLERS.get(rec.name)
        if handler is None:
            return
        with self._lock:
            cid = rec.compile_id
            if cid is None:
                if rec.name == "dynamo_error":
                    self.errors.append(_last_line(rec.payload))
                return
            key = (cid.frame_id, cid.frame_compile_id)
            compile_ = self._compiles.get(key)
            if compile_ is None:
                compile_ = self._compiles[key] = CompileRecord(f"[{key[0]}/{key[1]}]")
                self._breaks[key] = []
            handler(self, key, compile_, rec)

    def _on_start(self, key: tuple, compile_: CompileRecord, rec: structured.Record) -> None:
        compile_.stack = [StackFrame(rec.string(f["filename"]), f["line"], f["name"],
                                     f.get("loc", "")) for f in rec.metadata.get("stack", [])]

    def _on_recompile(self, key: tuple, compile_: CompileRecord,
                      rec: structured.Record) -> None:
        compile_.recompile_reasons = list(rec.payload or [])

    def _on_guards(self, key: tuple, compile_: CompileRecord, rec: structured.Record) -> None:
        compile_.guards = [g["code"] for g in rec.payload or []]

    def _on_break(self, key: tuple, compile_: CompileRecord, rec: structured.Record) -> None:
        self._breaks[key].append(parse_break_reason(rec.payload or ""))

    def _on_error(self, key: tuple, compile_: CompileRecord, rec: structured.Record) -> None:
        compile_.error = _last_line(rec.payload)

    def _on_partition(self, key: tuple, compile_: CompileRecord,
                      rec: structured.Record) -> None:
        compile_.partitions.append(dict(rec.payload or {}))

    def _on_metrics(self, key: tuple, compile_: CompileRecord, rec: structured.Record) -> None:
        m = rec.metadata
        compile_.function = m.get("co_name") or "?"
        compile_.filename = m.get("co_filename") or "?"
        compile_.firstlineno = m.get("co_firstlineno") or 0
        compile_.status = m.get("dynajit_status") or ("error" if m.get("fail_type") else "ok")
        compile_.op_count = m.get("graph_op_count")
        compile_.seconds = m.get("entire_frame_compile_time_s") or 0.0
        compile_.phase_times_s = dict(m.get("dynajit_phase_times_s") or {})
        if compile_.status == "error" and compile_.error is None:
            compile_.error = f"{m.get('fail_type')}: {m.get('fail_reason')}"

    _HANDLERS: dict[str, Callable] = {
        "dynamo_start": _on_start,
        "recompile_reasons": _on_recompile,
        "dynamo_guards": _on_guards,
        "dynamo_graph_break_reason": _on_break,
        "dynamo_error": _on_error,
        "compilation_metrics": _on_metrics,
        "dynajit_partition": _on_partition,
    }

    def compiles(self) -> list[CompileRecord]:
        """Every compile so far, in the order they started, with their breaks."""
        with self._lock:
            result = []
            for key, compile_ in self._compiles.items():
                compile_.breaks = [self._break_reason(compile_, fields)
                                   for fields in self._breaks[key]]
                result.append(compile_)
            return result

    def _break_reason(self, compile_: CompileRecord, fields: dict) -> BreakReason:
        frames: list[StackFrame] = fields["frames"]
        stack = list(compile_.stack)
        compiled = stack.pop() if stack else None  # the compiled frame, at its def line
        # The traceback starts in the compiled frame when its first frame names it or, for
        # records whose frames carry no name, when it is the whole inlined stack (the
        # resume format, which says the instruction); otherwise the break was in an
        # inlined callee and only its line is known: keep the compiled frame's def line.
        first = frames[0] if frames else None
        if first is not None and first.name is not None:
            starts_in_frame = compiled is not None and first.name == compiled.name and \
                first.filename == compiled.filename
        else:
            starts_in_frame = fields["instruction"] is not None or len(frames) > 1
        if compiled is not None and not starts_in_frame:
            stack.append(compiled)
        if not frames and fields["site"]:
            filename, _, line = fields["site"].rpartition(":")
            if line.isdigit():
                frames = [StackFrame(filename, int(line), None, "")]
        stack += frames
        stack = stack[self.root(stack):] or stack
        site = fields["site"] or (stack[-1].site if stack else "?")
        function = compile_.function if compile_.function != "?" else (
            compiled.name if compiled is not None else "?")
        category, hint = classify(fields["message"], fields["action"])
        return BreakReason(category=category, message=fields["message"],
                           user_stack=[(f.site, f.source) for f in stack],
                           instruction=fields["instruction"], site=site, function=function,
                           compile_id=compile_.compile_id, action=fields["action"], hint=hint)


def _last_line(text: Any) -> str:
    lines = [line for line in str(text or "").strip().split("\n") if line.strip()]
    return lines[-1].strip() if lines else ""


# ----------------------------------------------------------------------------- explain()
@dataclasses.dataclass
class ExplainOutput:
    """What ``dynajit.explain(fn)(*args)`` saw; ``str()`` is a readable report."""

    graphs: list[Any]  # the GraphModules compiled, one per graph with at least one op
    graph_count: int
    graph_break_count: int
    break_reasons: list[BreakReason]
    ops_per_graph: list[int]
    guards: list[list[str]]  # the guard strings of each compiled entry, in compile order
    compile_times: list[tuple[str, str, float]]  # (compile id, function, seconds), each
    result: Any  # what the function returned
    compiles: list[CompileRecord]
    errors: list[str]  # compiler crashes (the frame ran eagerly); not graph breaks
    # Gradient compiles: (compile id, function, the dynajit_partition record) each.
    partitions: list[tuple[str, str, dict]] = dataclasses.field(default_factory=list)

    @classmethod
    def from_compiles(cls, compiles: list[CompileRecord], errors: list[str], result: Any,
                      graphs_by_id: dict[str, list] | None = None) -> ExplainOutput:
        graphs_by_id = graphs_by_id or {}
        with_graph = [c for c in compiles if c.has_graph]
        return cls(
            graphs=[gm for c in with_graph for gm in graphs_by_id.get(c.compile_id, [])],
            graph_count=len(with_graph),
            graph_break_count=sum(len(c.breaks) for c in compiles),
            break_reasons=[b for c in compiles for b in c.breaks],
            ops_per_graph=[c.op_count or 0 for c in with_graph],
            guards=[c.guards for c in compiles if c.status == "ok"],
            compile_times=[(c.compile_id, c.function, c.seconds) for c in compiles],
            result=result,
            compiles=compiles,
            errors=errors + [f"{c.compile_id} {c.function}: {c.error}" for c in compiles
                             if c.error is not None],
            partitions=[(c.compile_id, c.function, p) for c in compiles for p in c.partitions],
        )

    def __str__(self) -> str:
        total = sum(seconds for _, _, seconds in self.compile_times)
        lines = [f"Graph count: {self.graph_count}",
                 f"Graph break count: {self.graph_break_count}",
                 f"Op count: {sum(self.ops_per_graph)} (per graph: "
                 f"{', '.join(map(str, self.ops_per_graph)) or 'none'})",
                 f"Compile time: {total * 1e3:.2f} ms in {len(self.compiles)} compile(s)"]
        if self.break_reasons:
            lines += ["", "Break reasons:"]
            for i, reason in enumerate(self.break_reasons, 1):
                text = str(reason).replace("\n", "\n   ")
                lines.append(f"  {i}. {text}")
        lines += ["", "Compiles:"]
        for c in self.compiles:
            what = (f"{c.op_count} op(s)" if c.has_graph else "no graph" if c.status == "ok"
                    else c.status)
            extra = f", {len(c.breaks)} break(s)" if c.breaks else ""
            if c.recompile_reasons:
                extra += f", recompiled: {'; '.join(c.recompile_reasons)}"
            lines.append(f"  {c.compile_id} {c.function} ({os.path.basename(c.filename)}:"
                         f"{c.firstlineno}): {what}, {len(c.guards)} guard(s), "
                         f"{c.seconds * 1e3:.2f} ms{extra}")
        if self.partitions:
            lines += ["", "Partitions (values the forward saves for the backward):"]
            for compile_id, function, p in self.partitions:
                lines += [f"  {line}" for line in partition_lines(compile_id, function, p)]
        if any(self.guards):
            lines += ["", "Guards:"]
            for c in self.compiles:
                if c.status == "ok" and c.guards:
                    lines.append(f"  {c.compile_id} {c.function}:")
                    lines += [f"    - {g}" for g in c.guards]
        if self.errors:
            lines += ["", "Compiler errors (the frame ran eagerly):"]
            lines += [f"  {e}" for e in self.errors]
        return "\n".join(lines)


def partition_lines(compile_id: str, function: str, record: dict) -> list[str]:
    """A gradient compile's partition decision: saved values with their bytes (inputs and
    forward outputs are free), and the forward ops the backward computes again."""
    saved = record.get("saved", [])
    lines = [f"{compile_id} {function}: {record.get('partitioner')} saves "
             f"{record.get('saved_bytes', 0)} bytes ({len(saved)} value(s); "
             f"{record.get('free_saved_bytes', 0)} bytes of inputs/outputs are free), "
             f"forward {record.get('forward_ops', 0)} op(s), backward "
             f"{record.get('backward_ops', 0)} op(s)"]
    for value in saved:
        lines.append(f"    saved {value['name']}: {value['meta']}, {value['nbytes']} bytes "
                     f"({value['kind']})")
    recomputed = record.get("recomputed", [])
    counts = collections.Counter(recomputed)
    if counts:
        lines.append("    recomputed in the backward: " + ", ".join(
            f"{name} x{n}" if n > 1 else name for name, n in counts.items()))
    else:
        lines.append("    recomputed in the backward: nothing")
    return lines


class _GraphRecorder:
    """A backend that keeps each GraphModule it is given (by compile id: a gradient
    compile has a forward and a backward graph), then compiles it with the chosen
    backend."""

    def __init__(self, backend: Any):
        from dynajit.backends import lookup_backend

        self._compile = lookup_backend(backend)
        self.__name__ = backend if isinstance(backend, str) else getattr(
            backend, "__name__", type(backend).__name__)
        self.graphs: dict[str, list] = {}

    def __call__(self, gm: Any, example_inputs: list) -> Any:
        cid = structured.current_compile_id()
        if cid is not None:
            self.graphs.setdefault(f"[{cid.frame_id}/{cid.frame_compile_id}]", []).append(gm)
        return self._compile(gm, example_inputs)


def explain(fn: Callable, backend: Any = "eager") -> Callable[..., ExplainOutput]:
    """``explain(fn)(*args, **kwargs)`` compiles ``fn`` afresh with ``backend``, calls it,
    and returns an ``ExplainOutput``: graphs, graph breaks (category, message, user stack,
    instruction, hint), ops per graph, guards, compile times and the call's result.

    >>> out = dynajit.explain(f)(np.ones(3))
    >>> out.graph_count, out.graph_break_count
    (2, 1)
    >>> print(out)               # a readable report

    ``fn`` may also be a gradient transform (``dynajit.grad(loss)``): the report then
    shows its forward and backward graphs and the partition (saved values and bytes,
    recomputed ops).

    Every frame the call runs is compiled again, so dynajit's caches are emptied
    (``dynajit.reset()``) before the call, and again after it, so that no entry compiled
    with ``backend`` is used later by another compiled function: compiled functions
    compile again at their next call. Records come from this thread only.
    """
    from dynajit.api import compile as compile_fn
    from dynajit.api import reset

    if getattr(fn, "_dynajit_transform", False):
        target: Any = None
    elif isinstance(fn, types.MethodType):
        target = types.MethodType(getattr(fn.__func__, "_dynajit_original", fn.__func__),
                                       fn.__self__)
    else:
        target = getattr(fn, "_dynajit_original", fn)

    def run(*args: Any, **kwargs: Any) -> ExplainOutput:
        recorder = _GraphRecorder(backend)
        compiled = (fn.with_options(backend=recorder) if target is None
                    else compile_fn(target, backend=recorder))
        caller = sys._getframe(1)
        collector = RecordCollector(_after_frame(caller.f_code.co_filename, caller.f_lineno,
                                                 caller.f_code.co_name))
        reset()
        try:
            with structured.listen(collector):
                result = compiled(*args, **kwargs)
        finally:
            reset()
        return ExplainOutput.from_compiles(collector.compiles(), collector.errors, result,
                                           recorder.graphs)

    return run


def _after_frame(filename: str, line: int, name: str) -> Callable[[list[StackFrame]], int]:
    """A ``root`` for RecordCollector: the user stack starts after the frame that called
    explain (it is the same in every record of the call)."""

    def root(frames: list[StackFrame]) -> int:
        for i, f in enumerate(frames):
            if (f.filename, f.line, f.name) == (filename, line, name):
                return i + 1
        return 0

    return root


# ----------------------------------------------------------------------------- the script
def _in_script(script: str) -> Callable[[list[StackFrame]], int]:
    """A ``root``: the user stack starts at the script's first frame (runpy's are left out)."""

    def root(frames: list[StackFrame]) -> int:
        return next((i for i, f in enumerate(frames) if f.filename == script), 0)

    return root


def run_script(path: str, argv: list[str]) -> tuple[int, RecordCollector]:
    """Run ``path`` as ``__main__`` (``sys.argv = [path, *argv]``, its directory first on
    ``sys.path``, as ``python path`` does) with a listener on every thread; returns the
    script's exit status and the records. An uncaught exception is printed, status 1."""
    script = os.path.abspath(path)
    collector = RecordCollector(_in_script(script))
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [path, *argv]
    sys.path.insert(0, os.path.dirname(script))
    try:
        with structured.listen(collector, all_threads=True):
            runpy.run_path(script, run_name="__main__")
        status = 0
    except SystemExit as e:
        status = _exit_status(e.code)
    except BaseException as e:  # noqa: BLE001 - the script's error, reported as Python does
        _print_script_error(e, script)
        status = 130 if isinstance(e, KeyboardInterrupt) else 1
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path
    return status, collector


def _exit_status(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _print_script_error(error: BaseException, script: str) -> None:
    """The traceback from the script's first frame on (this runner's frames left out)."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != script:
        tb = tb.tb_next
    sys.stderr.write("".join(traceback.format_exception(type(error), error, tb or
                                                        error.__traceback__)))


def summarize(compiles: list[CompileRecord], errors: Sequence[str] = (),
              top: int | None = None) -> str:
    """The graph-break summary: every break site (file:line) ranked by how many breaks
    (compiles that broke there) it had, with its reasons, the user stack of its first break
    and a hint."""
    breaks = [b for c in compiles for b in c.breaks]
    out = ExplainOutput.from_compiles(compiles, list(errors), None)
    functions = {(c.filename, c.function) for c in compiles}
    sites: dict[str, list[BreakReason]] = collections.defaultdict(list)
    for b in breaks:
        sites[b.site].append(b)
    lines = [f"dynajit explain: {len(compiles)} compile(s) of {len(functions)} function(s), "
             f"{out.graph_count} graph(s), {len(breaks)} graph break(s) at {len(sites)} "
             "site(s)"]
    if not sites:
        lines.append("no graph breaks")
    else:
        lines += ["", "Graph breaks by site (most frequent first):"]
    ranked = sorted(sites.items(), key=lambda item: -len(item[1]))  # stable: first seen first
    for site, group in ranked[:top]:
        first = group[0]
        source = first.user_stack[-1][1] if first.user_stack else ""
        in_functions = ", ".join(dict.fromkeys(b.function for b in group))
        lines.append(f"  {len(group):>3}x  {site}  ({first.category}; in {in_functions})")
        if source:
            lines.append(f"          {source}")
        reasons = collections.Counter((b.category, b.message) for b in group)
        for (_, message), count in reasons.most_common():
            times = f"{count}x " if len(reasons) > 1 else ""
            lines.append(f"        reason: {times}{message}")
        if first.instruction:
            lines.append(f"        instruction: {first.instruction}")
        if len(first.user_stack) > 1:
            lines.append("        user stack: " + " -> ".join(s for s, _ in first.user_stack))
        hints = dict.fromkeys(b.hint for b in group if b.hint)
        lines += [f"        hint: {hint}" for hint in hints]
    if top is not None and len(ranked) > top:
        lines.append(f"  ... {len(ranked) - top} more site(s)")
    if out.errors:
        lines += ["", "Compiler errors (the frame ran eagerly):"]
        lines += [f"  {e}" for e in out.errors]
    return "\n".join(lines)
