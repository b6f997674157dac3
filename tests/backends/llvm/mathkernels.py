"""A tiny JIT harness for mathlib: ``void f(T* a, [T* b,] T* out, i64 n)`` loops built with
llvmlite.ir, optimized at O3 by the new pass manager (loop vectorizer on), compiled by MCJIT
for the host CPU and called through ctypes. Used by the mathlib tests and by
benchmarks/math_accuracy.py; independent of the llvm backend's own runtime."""

from __future__ import annotations

import ctypes
import functools
import subprocess
import sys

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from dynajit.backends.llvm import mathlib

_TYPES = {np.dtype(np.float32): ir.FloatType(), np.dtype(np.float64): ir.DoubleType()}


def build_module(name: str, dtype, triple: str = "", data_layout: str = "",
                 short_range: bool = False) -> ir.Module:
    """IR module with one loop kernel ``k`` applying mathlib's ``name`` elementwise (its
    short-range form with ``short_range``)."""
    fty = _TYPES[np.dtype(dtype)]
    arity = mathlib.FUNCTIONS[name][0]
    ptr = ir.PointerType()
    i64 = ir.IntType(64)
    module = ir.Module(name=f"math_{name}")
    module.triple = triple
    module.data_layout = data_layout
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ptr] * (arity + 1) + [i64]), "k")
    for arg in fn.args[:-1]:
        arg.add_attribute("noalias")
    *ins, out, n = fn.args
    entry, loop, done = (fn.append_basic_block(s) for s in ("entry", "loop", "done"))
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", n, i64(0)), loop, done)
    b.position_at_end(loop)
    i = b.phi(i64)
    i.add_incoming(i64(0), entry)
    xs = [b.load(b.gep(p, [i], inbounds=True, source_etype=fty), typ=fty) for p in ins]
    y = mathlib.emit(b, name, xs, dtype, short_range)
    b.store(y, b.gep(out, [i], inbounds=True, source_etype=fty))
    nxt = b.add(i, i64(1))
    i.add_incoming(nxt, loop)
    b.cbranch(b.icmp_signed("<", nxt, n), loop, done)
    b.position_at_end(done)
    b.ret_void()
    return module


@functools.cache
def _target_machine():
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3,
        jit=True,
    )


@functools.cache
def _engine():
    tm = _target_machine()
    backing = llvm.parse_assembly("")
    backing.triple = tm.triple
    return llvm.create_mcjit_compiler(backing, tm)


def optimized(name: str, dtype, short_range: bool = False) -> llvm.ModuleRef:
    """The kernel's module after the O3 pipeline for the host."""
    tm = _target_machine()
    module = build_module(name, dtype, tm.triple, str(tm.target_data), short_range)
    mod = llvm.parse_assembly(str(module))
    mod.verify()
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return mod


def assembly(name: str, dtype) -> str:
    """Host assembly of the optimized kernel."""
    return _target_machine().emit_assembly(optimized(name, dtype))


@functools.cache
def kernel(name: str, dtype, short_range: bool = False):
    """A callable ``f(*inputs) -> out`` running the compiled loop over contiguous arrays."""
    dt = np.dtype(dtype)
    arity = mathlib.FUNCTIONS[name][0]
    mod = optimized(name, dt, short_range)
    mod.name = f"math_{name}_{dt}"
    # every module defines "k"; rename so the shared engine can hold them all
    sym = f"k_{name}_{dt}{'_short' if short_range else ''}"
    text = str(mod).replace("@k(", f"@{sym}(")
    mod = llvm.parse_assembly(text)
    engine = _engine()
    engine.add_module(mod)
    engine.finalize_object()
    addr = engine.get_function_address(sym)
    cfn = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * (arity + 1), ctypes.c_int64)(addr)

    def run(*inputs):
        shape = np.broadcast(*inputs).shape
        arrs = [np.ascontiguousarray(np.broadcast_to(np.asarray(x, dt), shape)) for x in inputs]
        out = np.empty(arrs[0].shape, dt)
        cfn(*[a.ctypes.data for a in arrs], out.ctypes.data, out.size)
        return out

    run.module = mod
    return run


def ptx(name: str, dtype) -> str:
    """PTX for sm_90 of the kernel (NVPTX target). Run it in a subprocess (``ptx_in_subprocess``)
    when an unsupported intrinsic could abort the process."""
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    target = llvm.Target.from_triple("nvptx64-nvidia-cuda")
    tm = target.create_target_machine(cpu="sm_90", opt=3)
    module = build_module(name, dtype, "nvptx64-nvidia-cuda", str(tm.target_data))
    mod = llvm.parse_assembly(str(module))
    mod.verify()
    return tm.emit_assembly(mod)


def ptx_in_subprocess(names, dtypes) -> subprocess.CompletedProcess:
    """Lower every (name, dtype) to PTX in a child process; it prints ``ok name dtype CALLS``
    per kernel, CALLS saying whether the PTX contains a call."""
    code = (
        "import re\n"
        "from tests.backends.llvm.mathkernels import ptx\n"
        f"for name in {list(names)!r}:\n"
        f"    for dt in {[str(np.dtype(d)) for d in dtypes]!r}:\n"
        "        text = ptx(name, dt)\n"
        "        assert '.entry' in text or '.func' in text, text[:200]\n"
        "        print('ok', name, dt, bool(re.search(r'\\bcall', text)), flush=True)\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)


# ------------------------------------------------------------------------------------------
# references, errors and inputs shared by the tests and benchmarks/math_accuracy.py

LD = np.longdouble
_SQRT_PI = np.sqrt(np.arccos(LD(-1)))


def erf_reference(x) -> np.ndarray:
    """erf in long double: the series 2/sqrt(pi) e**-x*x sum (2x*x)**n x / (2n+1)!! below 3,
    1 - erfc from its continued fraction above (both converged far past double precision)."""
    x = np.asarray(x, LD)
    a = np.abs(x)
    out = np.empty_like(a)
    lo = a < 3
    s = a[lo]
    term = s.copy()
    total = s.copy()
    for n in range(90):
        term = term * (2 * s * s) / (2 * n + 3)
        total += term
    out[lo] = 2 / _SQRT_PI * np.exp(-s * s) * total
    s = a[~lo]
    with np.errstate(over="ignore", invalid="ignore"):
        t = s.copy()
        for k in range(160, 0, -1):
            t = s + (LD(k) / 2) / t
        out[~lo] = 1 - np.exp(-s * s) / (_SQRT_PI * t)
    out[np.isinf(a)] = 1
    return np.copysign(out, x)


def reference(name: str, *args) -> np.ndarray:
    """The function evaluated in long double (80-bit on x86): ~11 bits beyond float64."""
    wide = [np.asarray(a, LD) for a in args]
    with np.errstate(all="ignore"):
        if name == "erf":
            return erf_reference(*wide)
        return getattr(np, name)(*wide)


def numpy_result(name: str, *args) -> np.ndarray:
    """NumPy's own result in the input dtype (erf: float64's math.erf, rounded)."""
    with np.errstate(all="ignore"):
        if name == "erf":
            import math

            return np.vectorize(math.erf, otypes=[np.float64])(args[0]).astype(args[0].dtype)
        return getattr(np, name)(*args)


def ulp_error(result: np.ndarray, ref: np.ndarray, dtype, scale=None,
              signed_zeros: bool = True) -> np.ndarray:
    """|result - ref| in units of the last place of ref in ``dtype`` (subnormal ulp below the
    normal range), or of max(|ref|, scale) when a scale is given. Zero where result equals ref
    rounded to ``dtype`` (this covers infinities and overflow) or both are nan; inf where only
    one is nan or (with ``signed_zeros``) the signs of zeros differ."""
    fi = np.finfo(dtype)
    ref = np.asarray(ref, LD)
    result = np.asarray(result)
    with np.errstate(all="ignore"):
        rounded = ref.astype(dtype)
        mag = np.abs(ref)
        if scale is not None:
            mag = np.maximum(mag, np.where(np.isfinite(scale), np.abs(scale), 0))
        e = np.frexp(np.where((mag > 0) & np.isfinite(mag), mag, 1))[1] - 1
        e = np.maximum(e, fi.minexp)
        ulp = np.ldexp(LD(1), e - fi.nmant)
        err = np.abs(result.astype(LD) - ref) / ulp
        same = result == rounded
        if signed_zeros:
            same &= np.signbit(result) == np.signbit(rounded)
        nan_r, nan_f = np.isnan(result), np.isnan(ref)
        err = np.where(same | (nan_r & nan_f), 0, err)
        err = np.where(nan_r != nan_f, np.inf, err)
        if signed_zeros:
            zero_sign = (result == 0) & (rounded == 0) & (np.signbit(result) != np.signbit(rounded))
            err = np.where(zero_sign, np.inf, err)
    return err.astype(np.float64)


def error_scale(name: str, *args):
    """logaddexp is NumPy's formula max + log1p(exp(-|x - y|)): its error is bounded in ulps
    of the larger argument, not of a result that cancels to near zero."""
    if name == "logaddexp":
        return np.maximum(np.abs(args[0]), np.abs(args[1])).astype(LD)
    return None


# the accuracy contract: max ulp against the correctly rounded result
ULP_BOUND = {np.dtype(np.float32): 2.0, np.dtype(np.float64): 4.0}

# name -> (uniform range of the useful domain, log2 range of |x| for the log-uniform half)
_DOMAINS = {
    "exp": ((-750, 720), (-1080, 10)), "exp2": ((-1100, 1030), (-1080, 11)),
    "expm1": ((-40, 40), (-1080, 10)), "log": ((0, 100), (-1080, 1024)),
    "log2": ((0, 100), (-1080, 1024)), "log10": ((0, 100), (-1080, 1024)),
    "log1p": ((-1, 10), (-1080, 1024)), "tanh": ((-10, 10), (-1080, 10)),
    "sinh": ((-30, 30), (-1080, 10)), "cosh": ((-30, 30), (-1080, 10)),
    "sin": ((-10, 10), (-1080, 51)), "cos": ((-10, 10), (-1080, 51)),
    "tan": ((-10, 10), (-1080, 51)), "erf": ((-6, 6), (-1080, 3)),
    "arctan": ((-10, 10), (-1080, 1024)), "arcsin": ((-1, 1), (-1080, 1)),
    "arccos": ((-1, 1), (-1080, 1)), "arcsinh": ((-10, 10), (-1080, 1024)),
    "arccosh": ((1, 10), (-1080, 1024)), "arctanh": ((-1, 1), (-1080, 1)),
    "cbrt": ((-10, 10), (-1080, 1024)), "power": ((0, 10), (-1080, 1024)),
    "arctan2": ((-10, 10), (-1080, 1024)), "logaddexp": ((-100, 100), (-1080, 1024)),
}


def special_values(dtype) -> np.ndarray:
    """Edge inputs: nan, infinities, signed zeros, subnormals, extremes, small integers."""
    fi = np.finfo(dtype)
    vals = [np.nan, np.inf, 0.0, 1.0, 2.0, 0.5, 3.0, 10.0, fi.max, fi.tiny, fi.smallest_subnormal,
            fi.eps, 1.5, 100.0, 1e-3]
    vals = vals + [-v for v in vals]
    return np.array(vals, dtype)


def sample_inputs(name: str, dtype, n: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Random inputs for ``name``: half uniform over its useful domain, half with log-uniform
    magnitudes (subnormal to the largest finite value it is specified for) of both signs,
    then the special values (all pairs of them for binary functions)."""
    dt = np.dtype(dtype)
    fi = np.finfo(dt)
    rng = np.random.default_rng(seed)
    (u_lo, u_hi), (e_lo, e_hi) = _DOMAINS[name]
    e_lo = max(e_lo, fi.minexp - fi.nmant)
    e_hi = min(e_hi, fi.maxexp)
    arity = mathlib.FUNCTIONS[name][0]
    specials = special_values(dt)
    if name in ("sin", "cos", "tan"):
        specials = specials[~(np.abs(specials) > mathlib.REDUCTION_LIMIT)]

    def draw(m):
        half = m // 2
        uni = rng.uniform(u_lo, u_hi, half)
        mag = np.exp2(rng.uniform(e_lo, e_hi, m - half)) * rng.choice([-1.0, 1.0], m - half)
        with np.errstate(over="ignore"):
            x = np.concatenate([uni, mag]).astype(dt)
        x[~np.isfinite(x)] = fi.max
        return rng.permutation(x)

    if arity == 1:
        return (np.concatenate([draw(n), specials]),)
    x, y = draw(n), draw(n)
    if name == "power":
        # exponents mostly where the result is finite, some integers for negative bases
        y = rng.uniform(-40, 40, n).astype(dt)
        y[: n // 4] = np.round(y[: n // 4])
    sx, sy = np.meshgrid(specials, specials)
    return np.concatenate([x, sx.ravel()]), np.concatenate([y, sy.ravel()])
