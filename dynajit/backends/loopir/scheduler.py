"""From a graph to an ordered list of steps: kernels (fused loop nests over realized values),
extern calls (ops with no loop form, e.g. GEMM, run by NumPy), views made by NumPy on
run-time arrays, and the outputs. Pointwise values are inlined into their readers unless
they must live in memory (graph outputs, extern arguments, expensive values read twice);
reductions are always stored. Adjacent kernels over the same rows are fused into one kernel
whose stages run one after another per row (softmax, layernorm: one pass over memory).
Every decision is a trace record (``dynajit_schedule``)."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from dynajit.backends.loopir.ir import (
    Buffer,
    Ix,
    LoopValue,
    Pointwise,
    Reduction,
    Scan,
    View,
    c_strides,
    loop_vars,
    use_handler,
)
from dynajit.graph.graph import Graph, Node, map_nodes

# A pointwise value read by two or more ops is stored once when its body costs at least this
# many handler calls (transcendental calls count 16): cheaper bodies are recomputed.
REALIZE_COST = 64
# A transcendental value also read by a reduction over rows of at most this many elements is
# stored: its row kernel then computes it once and later stages read it from L1 (softmax's
# exp, once instead of twice per element).
ROW_CACHE_ELEMENTS = 1 << 14


# ------------------------------------------------------------------------------ steps
@dataclasses.dataclass(eq=False)
class Stage:
    """One loop nest inside a kernel: ``value`` computed over ``inner`` loops for each outer
    index, stored to ``out``."""

    value: Pointwise | Reduction
    out: Buffer
    inner: tuple[int, ...]
    # Runs inside the inner loop of the stage before it (``sharing.share_loops``).
    shares_loop: bool = False
    # Its stores may bypass the cache (``streaming.stream_stores``).
    streams: bool = False


@dataclasses.dataclass(eq=False)
class Kernel:
    name: str
    outer: tuple[int, ...]
    stages: list[Stage]

    @property
    def work(self) -> int:
        """Handler calls the kernel makes in all (transcendentals weigh 16): what decides
        whether threads pay for their start-up."""
        n = 1
        for s in self.outer:
            n *= s
        total = 0.0
        for st in self.stages:
            total += max(_prod(st.inner), 1) * max(stage_calls(st, self.outer).cost, 1)
        return int(n * total)

    def buffers(self) -> list[str]:
        names: dict[str, None] = {}
        for st in self.stages:
            names[st.out.name] = None
        return list(names)


@dataclasses.dataclass(eq=False)
class KernelStep:
    kernel: Kernel


@dataclasses.dataclass(eq=False)
class AllocStep:
    """``var = empty(shape, dtype)``, or ``var = reuse`` when a dead buffer of the same shape
    and dtype can hold it."""

    var: str
    shape: tuple[int, ...]
    dtype: np.dtype
    reuse: str | None = None


@dataclasses.dataclass(eq=False)
class CallStep:
    """``var = fn(*args, **kwargs)`` in the wrapper; args name run-time arrays by ``Var``."""

    var: str
    fn: Callable[..., Any]
    label: str
    args: tuple
    kwargs: dict
    meta: tuple[tuple[int, ...], np.dtype] | None = None  # an array result's shape, dtype


@dataclasses.dataclass(frozen=True)
class Var:
    name: str


@dataclasses.dataclass(eq=False)
class Schedule:
    inputs: list[str]
    steps: list[Any]
    outputs: Any  # the graph's output structure with Vars for arrays
    scalar_outputs: set[str]
    decisions: list[dict]


def _prod(shape: tuple) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


# ------------------------------------------------------------------------------ target
class Target(abc.ABC):
    """What a code generator supports; the scheduler asks before lowering an op."""

    # Whether the target's runtime runs ``blocking.RowBlocks`` steps.
    blocks_rows = False
    # Whether its code generator runs ``Scan`` stages (cumulative sums and products).
    scans = False
    # Whether a stage may read what an earlier stage of the same kernel stored (row-cached
    # transcendentals) and write over a buffer it reads (in-place stores). Off for targets
    # where this was not run (PTX: stages of a row may map elements to threads differently).
    stage_reuse = False
    # Whether its code generator runs a stage marked ``shares_loop`` inside the loop before.
    shares_loops = False
    # Whether a setitem into a copy copies only the complement of a box index (up to two
    # small kernels per dimension instead of one copy: each is a launch on a GPU).
    copies_complement = False
    # Whether its code generator may store large results past the cache (non-temporal
    # stores), for stages that ``streaming.stream_stores`` marks.
    streams_stores = False

    @abc.abstractmethod
    def supports(self, name: str, dtype: np.dtype) -> bool:
        """Whether bodies may call handler op ``name`` with loop dtype ``dtype``."""

    @abc.abstractmethod
    def supports_reduction(self, kind: str, dtype: np.dtype) -> bool:
        """Whether a reduction of ``kind`` accumulating in ``dtype`` can be generated."""


# ------------------------------------------------------------------------------ scheduling
class Scheduler:
    def __init__(self, graph: Graph, example_inputs: list, target: Target):
        self.graph = graph
        self.target = target
        self.steps: list[Any] = []
        self.values: dict[Node, Any] = {}  # node -> LoopValue (or None: extern only)
        self.runtime: dict[Node, str] = {}  # node -> wrapper variable holding its array
        self.decisions: list[dict] = []
        self._names = 0
        self._kernels = 0
        self._example = dict(zip(graph.placeholders, example_inputs, strict=True))

    def fresh(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}{self._names}"

    # the context lowerings see
    def supports(self, name: str, dtype: np.dtype) -> bool:
        return self.target.supports(name, np.dtype(dtype))

    def supports_reduction(self, kind: str, dtype: np.dtype) -> bool:
        return self.target.supports_reduction(kind, np.dtype(dtype))

    def supports_scan(self) -> bool:
        return self.target.scans

    def realize(self, value: LoopValue, reason: str = "read from memory") -> LoopValue:
        """Store ``value`` in a new C-contiguous buffer now (a kernel step); returns the
        value, whose readers from now on load the buffer."""
        if isinstance(value, Buffer):
            return value
        if isinstance(value, (Pointwise, Reduction, Scan)) and value.realized is not None:
            return value
        if isinstance(value, View):
            copy = Pointwise(value.shape, value.dtype, value.loader())
            self.realize(copy, reason)
            return copy.realized
        var = self.fresh("buf")
        buf = Buffer(var, tuple(value.shape), value.dtype)
        self.steps.append(AllocStep(var, tuple(value.shape), value.dtype))
        self._kernels += 1
        name = f"kernel{self._kernels}"
        if isinstance(value, Reduction):
            kernel = Kernel(name, tuple(value.shape), [Stage(value, buf, value.reduce_shape)])
        elif isinstance(value, Scan):
            # the stage stores through a view with the axis moved last (its loop order)
            ax, shape, st = value.axis, tuple(value.shape), c_strides(tuple(value.shape))
            outer = shape[:ax] + shape[ax + 1:]
            view = Buffer(var, outer + (shape[ax],), value.dtype, 0,
                          st[:ax] + st[ax + 1:] + (st[ax],))
            kernel = Kernel(name, outer, [Stage(value, view, (shape[ax],))])
        else:
            kernel = Kernel(name, tuple(value.shape), [Stage(value, buf, ())])
        value.realized = buf
        self.steps.append(KernelStep(kernel))
        self.decisions.append({"realize": var, "kind": type(value).__name__.lower(),
                               "shape": list(value.shape), "dtype": value.dtype.name,
                               "reason": reason})
        return value

    def check(self, fn: Callable[[Any], None], label: str, node: Node) -> None:
        """A wrapper step calling ``fn`` on the node's array before later kernels run (it
        raises NumPy's error for values a kernel cannot report, e.g. indices out of bounds)."""
        var = self.runtime_var(node)
        self.steps.append(CallStep(self.fresh("chk"), fn, label, (Var(var),), {}))

    def new_buffer(self, shape: tuple[int, ...], dtype: np.dtype) -> Buffer:
        """An uninitialized buffer that ``store_into`` kernels fill (concatenate)."""
        var = self.fresh("buf")
        self.steps.append(AllocStep(var, tuple(shape), np.dtype(dtype)))
        return Buffer(var, tuple(shape), np.dtype(dtype))

    def fresh_buffer(self, value: LoopValue, reason: str) -> Buffer:
        """A new buffer holding a copy of ``value`` that later stores may overwrite (never
        the value's own buffer, which other readers still read)."""
        copy = Pointwise(tuple(value.shape), value.dtype, value.loader())
        self.realize(copy, reason)
        return copy.realized

    def store_into(self, value: LoopValue, target: Buffer, reason: str) -> None:
        """A kernel storing ``value`` (shape of ``target``) through ``target``'s layout, e.g.
        a slice of a buffer: setitem, concatenate and pad write their parts this way."""
        self._kernels += 1
        body = Pointwise(tuple(target.shape), target.dtype, value.loader())
        kernel = Kernel(f"kernel{self._kernels}", tuple(target.shape),
                        [Stage(body, target, ())])
        self.steps.append(KernelStep(kernel))
        self.decisions.append({"store_into": target.name, "shape": list(target.shape),
                               "reason": reason})

    # ---------------------------------------------------------------------------- values
    def value_of(self, node: Node) -> LoopValue:
        """The node's LoopValue for kernels to read (extern results become buffers)."""
        value = self.values.get(node)
        if value is not None:
            return value
        var = self.runtime_var(node)
        contig = self.fresh("in")
        self.steps.append(CallStep(contig, _contiguous, "contiguous", (Var(var),), {}))
        value = Buffer(contig, tuple(node.meta.shape), np.dtype(node.meta.dtype))
        self.values[node] = value
        return value

    def runtime_var(self, node: Node) -> str:
        """A wrapper variable holding the node's value as NumPy sees it (real views for view
        ops, so aliasing is NumPy's)."""
        if node in self.runtime:
            return self.runtime[node]
        if node.kind == "call" and node.target.view and isinstance(node.args[0], Node):
            var = self.fresh("v")
            args = map_nodes(node.args, lambda n: Var(self.runtime_var(n)))
            kwargs = map_nodes(node.kwargs, lambda n: Var(self.runtime_var(n)))
            self.steps.append(CallStep(var, node.target.impl, node.target.name, args, kwargs))
            self.runtime[node] = var
            return var
        value = self.values[node]
        value = self.realize(value, "used outside kernels")
        buf = value if isinstance(value, Buffer) else value.realized
        self.runtime[node] = buf.name
        return buf.name

    # ---------------------------------------------------------------------------- driver
    def run(self) -> Schedule:
        inputs = []
        for p in self.graph.placeholders:
            inputs.append(p.name)
            self._input(p)
        for node in self.graph.nodes:
            if node.kind == "constant":
                self._constant(node)
            elif node.kind == "call":
                self._call(node)
        out = self.graph.output_node
        outputs = map_nodes(out.args[0], lambda n: Var(self.runtime_var(n))) if out else ()
        scalars = {self.runtime_var(n) for n in (self._output_nodes())
                   if getattr(n.meta, "scalar", False)}
        self.steps = fuse_rows(self.steps, self.decisions)
        if self.target.stage_reuse:
            store_in_place(self.steps, _var_names(outputs), self.decisions)
        if self.target.blocks_rows:
            from dynajit.backends.loopir.blocking import block_rows

            self.steps = block_rows(self.steps, self._input_shapes(), self.decisions)
        reuse_dead_buffers(self.steps, _var_names(outputs), self.decisions)
        if self.target.shares_loops:
            from dynajit.backends.loopir.sharing import share_loops

            share_loops(self.steps, self.decisions)
        if self.target.streams_stores:
            from dynajit.backends.loopir.streaming import stream_stores

            stream_stores(self.steps, self.decisions)
        return Schedule(inputs, self.steps, outputs, scalars, self.decisions)

    def _input_shapes(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """Shape and dtype of the C-contiguous array inputs."""
        return {p.name: (tuple(x.shape), x.dtype) for p, x in self._example.items()
                if isinstance(x, np.ndarray) and x.flags.c_contiguous}

    def _output_nodes(self) -> list[Node]:
        from dynajit.graph.graph import iter_nodes

        out = self.graph.output_node
        return list(iter_nodes(out.args[0])) if out else []

    def _input(self, node: Node) -> None:
        self.runtime[node] = node.name
        example = self._example[node]
        meta = node.meta
        if (isinstance(example, np.ndarray) and example.flags.aligned
                and all(s % example.itemsize == 0 for s in example.strides)
                and example.dtype.itemsize):
            strides = tuple(s // example.itemsize for s in example.strides)
            self.values[node] = Buffer(node.name, tuple(meta.shape), np.dtype(meta.dtype), 0,
                                       strides)
        # else: NumPy scalars and unaligned arrays are made contiguous when a kernel reads them

    def _constant(self, node: Node) -> None:
        var = self.fresh("const")
        value = np.array(node.target, order="C")  # keeps 0-d (ascontiguousarray: 1-d)
        self.steps.append(CallStep(var, _constant_value(value), "constant", (), {}))
        self.values[node] = Buffer(var, value.shape, value.dtype)
        self.runtime[node] = var
        if isinstance(node.target, np.generic):
            self.runtime[node] = self.fresh("cs")
            self.steps.append(CallStep(self.runtime[node], _constant_value(node.target),
                                       "constant", (), {}))

    def _call(self, node: Node) -> None:
        op = node.target
        value = None
        if op.lowering is not None and _array_meta(node.meta):
            args = map_nodes(node.args, self._lowering_arg)
            kwargs = map_nodes(node.kwargs, self._lowering_arg)
            if not _has_missing(args) and not _has_missing(kwargs):
                value = op.lowering(node, args, kwargs, self)
        if value is None:
            var = self.fresh("t")
            args = map_nodes(node.args, lambda n: Var(self.runtime_var(n)))
            kwargs = map_nodes(node.kwargs, lambda n: Var(self.runtime_var(n)))
            meta = ((tuple(node.meta.shape), np.dtype(node.meta.dtype))
                    if _array_meta(node.meta) else None)
            self.steps.append(CallStep(var, op.impl, op.name, args, kwargs, meta))
            self.runtime[node] = var
            self.decisions.append({"extern": op.name, "node": node.name,
                                   "reason": "no loop form" if op.lowering is None
                                   else "this call has no loop form on this target"})
            return
        self.values[node] = value
        if isinstance(value, Pointwise) and value.realized is None and len(node.users) > 1:
            if body_cost(value) >= REALIZE_COST:
                self.realize(value, f"read by {len(node.users)} ops and costly to recompute")
            elif (self.target.stage_reuse and body_cost(value) >= _CostCounter.WEIGHT
                  and _row_reduced(node)):
                self.realize(value, "read by a row reduction: computed once per row kernel")

    def _lowering_arg(self, node: Node) -> Any:
        if not _array_meta(node.meta):
            return _MISSING
        if node in self.values:
            return self.values[node]
        return self.value_of(node)


_MISSING = object()


def _row_reduced(node: Node) -> bool:
    """Whether a reader reduces the node over its last dims only, in rows small enough to
    stay in the cache (the stored value is then fused into that row kernel)."""
    shape = tuple(node.meta.shape)
    for user in node.users:
        op = user.target
        if user.kind != "call" or not op.reduction or op.name in ("cumsum", "cumprod"):
            continue
        axis = user.kwargs.get("axis")
        if axis is None or not shape:
            continue
        axes = sorted(a % len(shape) for a in ((axis,) if isinstance(axis, int) else axis))
        rows = len(shape) - len(axes)
        if rows and axes == list(range(rows, len(shape))) and \
                _prod(shape[rows:]) <= ROW_CACHE_ELEMENTS:
            return True
    return False


def _has_missing(value: Any) -> bool:
    if value is _MISSING:
        return True
    if isinstance(value, (tuple, list)):
        return any(_has_missing(v) for v in value)
    if isinstance(value, dict):
        return any(_has_missing(v) for v in value.values())
    return False


def _array_meta(meta: Any) -> bool:
    from dynajit.graph.meta import TensorMeta

    return isinstance(meta, TensorMeta)


def _contiguous(x: Any) -> np.ndarray:
    a = np.asarray(x)
    if a.flags.c_contiguous and a.flags.aligned:
        return a
    return np.array(a, order="C")


def _constant_value(value: Any) -> Callable[[], Any]:
    return lambda: value


# ------------------------------------------------------------------------------ cost
class _CostCounter:
    """A handler that counts calls (transcendentals weigh 16)."""

    WEIGHT = 16  # of a transcendental
    HEAVY = frozenset("exp exp2 expm1 log log2 log10 log1p sin cos tan tanh sinh cosh arcsin "
                      "arccos arctan arctan2 arcsinh arccosh arctanh power float_power "
                      "logaddexp logaddexp2 cbrt hypot".split())

    def __init__(self) -> None:
        self.cost = 0
        self.names: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        def op(*args: Any, **kwargs: Any) -> None:
            self.cost += self.WEIGHT if name in self.HEAVY else 1
            self.names.add(name)

        return op


def stage_calls(stage: Stage, outer: tuple[int, ...]) -> _CostCounter:
    """The handler calls of one stage's body: their ``cost`` and their ``names``."""
    counter = _CostCounter()
    with use_handler(counter):
        eval_stage(stage, outer)
    return counter


def calls_transcendental(stage: Stage, outer: tuple[int, ...]) -> bool:
    return bool(stage_calls(stage, outer).names & _CostCounter.HEAVY)


def body_cost(value: Pointwise) -> int:
    if value.cost is None:
        counter = _CostCounter()
        with use_handler(counter):
            value.body(loop_vars("x", len(value.shape)))
        value.cost = counter.cost
    return value.cost


# ------------------------------------------------------------------------------ row fusion
# The index of a load whose address depends on loaded data (a gather): a variable no loop
# has, so every analysis that asks where a load reads treats it as "anywhere".
DATA_INDEX = Ix(0, (("?data", 1),))


class _LoadRecorder:
    """A handler that records every load's buffer and index (values are opaque)."""

    def __init__(self) -> None:
        self.loads: list[tuple[str, Ix]] = []

    def load(self, name: str, index: Ix, dtype: Any) -> None:
        self.loads.append((name, index))

    def load_at(self, name: str, index: Ix, offset: Any, dtype: Any) -> None:
        self.loads.append((name, DATA_INDEX))

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def eval_stage(stage: Stage, outer: tuple[int, ...]) -> Any:
    """The stage's body at the kernel's loop variables (x0.. outer, r0.. inner), through the
    installed handler."""
    idx = loop_vars("x", len(outer))
    ridx = loop_vars("r", len(stage.inner))
    if isinstance(stage.value, Reduction):
        return stage.value.body(idx, ridx)
    return stage.value.body(idx + ridx)


def stage_loads(stage: Stage, outer: tuple[int, ...]) -> list[tuple[str, Ix]]:
    rec = _LoadRecorder()
    with use_handler(rec):
        eval_stage(stage, outer)
    return rec.loads


def stage_accesses(stage: Stage, outer: tuple[int, ...]) -> list[tuple[str, Ix]]:
    """Every (buffer, index) a stage stores or loads, in the kernel's loop variables."""
    idx = loop_vars("x", len(outer))
    ridx = () if isinstance(stage.value, Reduction) else loop_vars("r", len(stage.inner))
    return [(stage.out.name, stage.out.index(idx + ridx)), *stage_loads(stage, outer)]


def _as_row_stage(stage: Stage, outer: tuple[int, ...]) -> Stage | None:
    """The single stage of a kernel seen as a stage of a kernel with loops ``outer``."""
    value = stage.value
    if isinstance(value, Scan):
        return None
    if isinstance(value, Reduction):
        return stage if tuple(value.shape) == outer else None
    shape = tuple(value.shape)
    if len(shape) > len(outer) and shape[:len(outer)] == outer:
        return Stage(value, stage.out, shape[len(outer):])
    return None


def _row_local(stage: Stage, outer: tuple[int, ...], produced: dict[str, Stage]) -> bool:
    """Every load of a buffer produced earlier in the kernel reads the same row."""
    outer_vars = {f"x{k}" for k in range(len(outer))}
    for name, index in stage_loads(stage, outer):
        producer = produced.get(name)
        if producer is None:
            continue
        if not isinstance(producer.value, Reduction):
            store = producer.out.index(loop_vars("x", len(outer))
                                       + loop_vars("r", len(producer.inner)))
            if index != store or producer.inner != stage.inner:
                return False
        elif not index.vars <= outer_vars or index != producer.out.index(
                loop_vars("x", len(outer))):
            return False
    return True


def fuse_rows(steps: list[Any], decisions: list[dict]) -> list[Any]:
    """Merge a reduction kernel with the kernels right after it that run over the same rows
    and read its results only in the same row."""
    out: list[Any] = []
    for step in steps:
        prev = _last_kernel(out)
        if isinstance(step, KernelStep) and prev is not None and len(step.kernel.stages) == 1:
            group = prev.kernel
            starts_with_reduction = isinstance(group.stages[0].value, Reduction)
            candidate = _as_row_stage(step.kernel.stages[0], group.outer)
            produced = {st.out.name: st for st in group.stages}
            if (starts_with_reduction and group.outer and candidate is not None
                    and _row_local(candidate, group.outer, produced)):
                group.stages.append(candidate)
                decisions.append({"fuse": step.kernel.name, "into": group.name,
                                  "rows": list(group.outer)})
                _move_alloc_before(out, prev, candidate.out.name, steps)
                continue
        out.append(step)
    return out


def _last_kernel(steps: list[Any]) -> KernelStep | None:
    """The last kernel step, if only allocations follow it."""
    for step in reversed(steps):
        if isinstance(step, KernelStep):
            return step
        if not isinstance(step, AllocStep):
            return None
    return None


def _move_alloc_before(out: list[Any], kernel_step: KernelStep, var: str,
                       steps: list[Any]) -> None:
    """The fused stage's buffer must be allocated before the merged kernel runs."""
    for i, s in enumerate(out):
        if isinstance(s, AllocStep) and s.var == var:
            out.pop(i)
            out.insert(out.index(kernel_step), s)
            return


# ------------------------------------------------------------------------------ buffer reuse
def _var_names(value: Any) -> set[str]:
    if isinstance(value, Var):
        return {value.name}
    if isinstance(value, (tuple, list)):
        return set().union(*(_var_names(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return _var_names(tuple(value.values()))
    return set()


def kernel_buffers(kernel: Kernel) -> set[str]:
    names = {st.out.name for st in kernel.stages}
    for st in kernel.stages:
        names.update(name for name, _ in stage_loads(st, kernel.outer))
    return names


def store_in_place(steps: list[Any], outputs: set[str], decisions: list[dict]) -> None:
    """Let a kernel stage write its new buffer over a buffer it reads only at the element it
    writes, when nothing reads that buffer afterwards: softmax's last stage divides the
    stored exponentials in place. The stage stores through the read buffer's name (one
    pointer: kernel arguments are ``noalias``) and the new buffer becomes an alias of it.
    Outputs may take over an intermediate this way; the intermediate must not escape."""
    pinned = set(outputs)
    last: dict[str, int] = {}
    allocs: dict[str, int] = {}
    for i, step in enumerate(steps):
        if isinstance(step, CallStep):
            pinned |= _var_names(step.args) | _var_names(step.kwargs)
        elif isinstance(step, KernelStep):
            for name in kernel_buffers(step.kernel):
                last[name] = i
        elif isinstance(step, AllocStep):
            allocs[step.var] = i
    for i, step in enumerate(steps):
        if not isinstance(step, KernelStep):
            continue
        stages = step.kernel.stages
        for j, st in enumerate(stages):
            new = st.out.name
            if not isinstance(st.value, Pointwise) or new not in allocs:
                continue
            donor = _in_place_donor(step.kernel, j, allocs, steps, pinned, last, i)
            if donor is None:
                continue
            d = steps[allocs[donor]]
            stages[j] = Stage(st.value, Buffer(donor, st.out.shape, d.dtype, st.out.offset,
                                               st.out.strides), st.inner)
            alloc = steps.pop(allocs[new])
            alloc.reuse = donor
            steps.insert(steps.index(d) + 1, alloc)
            allocs = {s.var: k for k, s in enumerate(steps) if isinstance(s, AllocStep)}
            decisions.append({"in_place": new, "over": donor, "kernel": step.kernel.name})


def _reruns(kernel: Kernel) -> bool:
    """Whether the kernel may rerun its range (sin/cos/tan past their fast range): a rerun
    reads its inputs again, so none of them may have been overwritten in place."""
    return any(stage_calls(st, kernel.outer).names & {"sin", "cos", "tan"}
               for st in kernel.stages)


def _in_place_donor(kernel: Kernel, j: int, allocs: dict[str, int], steps: list[Any],
                    pinned: set[str], last: dict[str, int], here: int) -> str | None:
    """A buffer stage ``j`` may write over: fresh, dead after this kernel, same shape and
    dtype, and touched by stages up to ``j`` only at the element stage ``j`` writes (so no
    row or thread reads an element after it is overwritten); no later stage touches it or
    the new buffer (one memory, one name), and the kernel never reruns."""
    stage = kernel.stages[j]
    new = stage.out.name
    new_alloc = steps[allocs[new]]
    if (new_alloc.reuse or stage.out.offset or tuple(stage.out.strides) != c_strides(
            new_alloc.shape) or tuple(stage.out.shape) != tuple(new_alloc.shape)):
        return None
    if any(new == n for s in kernel.stages[:j] + kernel.stages[j + 1:]
           for n, _ in stage_accesses(s, kernel.outer)):
        return None
    store = stage.out.index(loop_vars("x", len(kernel.outer)) + loop_vars("r", len(stage.inner)))
    before = [a for s in kernel.stages[:j + 1] for a in stage_accesses(s, kernel.outer)]
    after = {n for s in kernel.stages[j + 1:] for n, _ in stage_accesses(s, kernel.outer)}
    for donor in dict.fromkeys(n for n, _ in stage_loads(stage, kernel.outer)):
        alloc = allocs.get(donor)
        if (alloc is None or donor in pinned or last.get(donor) != here or donor in after
                or steps[alloc].reuse or steps[alloc].shape != new_alloc.shape
                or np.dtype(steps[alloc].dtype) != np.dtype(new_alloc.dtype)):
            continue
        if any(ix != store for n, ix in before if n == donor):
            continue
        return None if _reruns(kernel) else donor
    return None


def reuse_dead_buffers(steps: list[Any], outputs: set[str], decisions: list[dict]) -> None:
    """Let a new intermediate buffer take over a dead one of the same shape and dtype (no
    allocation, no fresh pages). Buffers that escape (outputs, extern arguments, NumPy views)
    are never reused nor reusing; a buffer is dead after the last kernel that touches it.
    A buffer aliased already (``store_in_place``) lives as long as its alias."""
    alias = {s.var: s.reuse for s in steps if isinstance(s, AllocStep) and s.reuse}

    def canon(names: set[str]) -> set[str]:
        return {alias.get(n, n) for n in names}

    pinned = canon(set(outputs))
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, step in enumerate(steps):
        if isinstance(step, CallStep):
            pinned |= canon(_var_names(step.args) | _var_names(step.kwargs))
        elif isinstance(step, KernelStep):
            for name in canon(kernel_buffers(step.kernel)):
                first.setdefault(name, i)
                last[name] = i
        elif hasattr(step, "blocked_buffers"):  # blocking.RowBlocks: every buffer at once
            kernels, externs = step.blocked_buffers()
            pinned |= canon(externs)
            for name in canon(kernels):
                first.setdefault(name, i)
                last[name] = i
    free: list[AllocStep] = []
    allocs = [s for s in steps if isinstance(s, AllocStep)]
    for alloc in sorted(allocs, key=lambda a: first.get(a.var, -1)):
        if alloc.var in pinned or alloc.var not in first or alloc.reuse:
            continue
        start = first[alloc.var]
        for donor in free:
            if (donor.shape == alloc.shape and donor.dtype == alloc.dtype
                    and last[donor.var] < start):
                alloc.reuse = donor.reuse or donor.var
                free.remove(donor)
                last[donor.var] = max(last[donor.var], last[alloc.var])
                decisions.append({"reuse": alloc.var, "of": alloc.reuse})
                break
        free.append(alloc)


def schedule(graph: Graph, example_inputs: list, target: Target) -> Schedule:
    return Scheduler(graph, example_inputs, target).run()


def describe(schedule_: Schedule) -> str:
    """The schedule as text: kernels with their stages, externs and views."""
    lines = [f"inputs: {', '.join(schedule_.inputs)}"]
    for step in schedule_.steps:
        if isinstance(step, AllocStep) and step.reuse:
            lines.append(f"{step.var} = {step.reuse}  # reused: dead, same shape and dtype")
        elif isinstance(step, AllocStep):
            lines.append(f"{step.var} = empty({step.shape}, {step.dtype.name})")
        elif isinstance(step, CallStep):
            args = ", ".join(a.name if isinstance(a, Var) else repr(a) for a in step.args)
            lines.append(f"{step.var} = {step.label}({args})")
        elif hasattr(step, "describe"):
            lines.extend(step.describe())
        else:
            k = step.kernel
            lines.append(f"{k.name}: loops {k.outer}")
            for st in k.stages:
                kind = st.value.kind if isinstance(st.value, Reduction) else (
                    f"scan {st.value.kind}" if isinstance(st.value, Scan) else "pointwise")
                lines.append(f"  {kind} over {st.inner} -> {st.out.name}")
    lines.append(f"return {schedule_.outputs}")
    return "\n".join(lines)


__all__ = ["AllocStep", "CallStep", "Kernel", "KernelStep", "Schedule", "Stage", "Target",
           "Var", "c_strides", "describe", "schedule"]
