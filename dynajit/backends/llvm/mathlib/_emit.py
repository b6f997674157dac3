"""The IR-building vocabulary the math routines are written in: float and integer arithmetic on
one scalar type, the allowed intrinsics, nan-aware comparisons and selects, and exact scaling by
powers of two through the exponent bits. Everything emitted is straight-line code."""

from __future__ import annotations

from llvmlite import ir

# The only intrinsics the routines may call: each lowers to inline code on x86 and on NVPTX.
ALLOWED_INTRINSICS = ("fma", "fabs", "floor", "ceil", "trunc", "rint", "copysign", "sqrt")


class Emitter:
    """Builds IR for one floating-point type (``float`` or ``double``) at the builder's
    position. Comparisons are ordered (false when either side is nan) unless named ``u*``."""

    def __init__(self, builder: ir.IRBuilder, fty: ir.Type):
        self.b = builder
        self.ty = fty
        self.double = isinstance(fty, ir.DoubleType)
        self.nbits = 64 if self.double else 32
        self.ity = ir.IntType(self.nbits)
        self.mant = 52 if self.double else 23
        self.bias = 1023 if self.double else 127
        # magic + k, for integer-valued k with |k| < 2**(mant-1), has k in its low mantissa bits
        self.magic = 1.5 * 2.0**self.mant

    def with_type(self, fty: ir.Type) -> Emitter:
        return Emitter(self.b, fty)

    # constants -------------------------------------------------------------------------
    def c(self, v: float) -> ir.Constant:
        return ir.Constant(self.ty, float(v))

    def i(self, v: int) -> ir.Constant:
        return ir.Constant(self.ity, int(v))

    def _f(self, v):
        return v if isinstance(v, ir.Value) else self.c(v)

    def _i(self, v):
        return v if isinstance(v, ir.Value) else self.i(v)

    # float arithmetic ------------------------------------------------------------------
    def add(self, a, b):
        return self.b.fadd(self._f(a), self._f(b))

    def sub(self, a, b):
        return self.b.fsub(self._f(a), self._f(b))

    def mul(self, a, b):
        return self.b.fmul(self._f(a), self._f(b))

    def div(self, a, b):
        return self.b.fdiv(self._f(a), self._f(b))

    def neg(self, a):
        return self.b.fneg(self._f(a))

    def _intrinsic(self, name: str, *args):
        assert name in ALLOWED_INTRINSICS, name
        full = f"llvm.{name}.{'f64' if self.double else 'f32'}"
        module = self.b.module
        fn = module.globals.get(full)
        if fn is None:
            fn = ir.Function(module, ir.FunctionType(self.ty, [self.ty] * len(args)), name=full)
        return self.b.call(fn, [self._f(a) for a in args])

    def fma(self, a, b, c):
        """a * b + c with one rounding."""
        return self._intrinsic("fma", a, b, c)

    def fabs(self, a):
        return self._intrinsic("fabs", a)

    def floor(self, a):
        return self._intrinsic("floor", a)

    def trunc(self, a):
        return self._intrinsic("trunc", a)

    def rint(self, a):
        return self._intrinsic("rint", a)

    def copysign(self, mag, sign):
        return self._intrinsic("copysign", mag, sign)

    def sqrt(self, a):
        return self._intrinsic("sqrt", a)

    def poly(self, x, coeffs):
        """coeffs[0] + coeffs[1]*x + ... by Horner's rule with fused multiply-adds."""
        acc = self.c(coeffs[-1])
        for coef in reversed(coeffs[:-1]):
            acc = self.fma(acc, x, coef)
        return acc

    # comparisons and selects -----------------------------------------------------------
    def lt(self, a, b):
        return self.b.fcmp_ordered("<", self._f(a), self._f(b))

    def ult(self, a, b):
        """Unordered less-than: also true when either is nan."""
        return self.b.fcmp_unordered("<", self._f(a), self._f(b))

    def le(self, a, b):
        return self.b.fcmp_ordered("<=", self._f(a), self._f(b))

    def gt(self, a, b):
        return self.b.fcmp_ordered(">", self._f(a), self._f(b))

    def ge(self, a, b):
        return self.b.fcmp_ordered(">=", self._f(a), self._f(b))

    def eq(self, a, b):
        return self.b.fcmp_ordered("==", self._f(a), self._f(b))

    def one(self, a, b):
        """Ordered and not equal: false when either is nan."""
        return self.b.fcmp_ordered("!=", self._f(a), self._f(b))

    def isnan(self, a):
        return self.b.fcmp_unordered("uno", a, a)

    def sel(self, cond, a, b):
        return self.b.select(cond, self._f(a), self._f(b))

    def isel(self, cond, a, b):
        return self.b.select(cond, self._i(a), self._i(b))

    def and_(self, p, q):
        return self.b.and_(p, q)

    def or_(self, p, q):
        return self.b.or_(p, q)

    def not_(self, p):
        return self.b.not_(p)

    def clamp(self, x, lo: float, hi: float):
        """x limited to [lo, hi]; nan stays nan (both compares are false for it)."""
        x = self.sel(self.gt(x, hi), hi, x)
        return self.sel(self.lt(x, lo), lo, x)

    # bits ------------------------------------------------------------------------------
    def to_int(self, x):
        return self.b.bitcast(self._f(x), self.ity)

    def from_int(self, k):
        return self.b.bitcast(self._i(k), self.ty)

    def iadd(self, a, b):
        return self.b.add(self._i(a), self._i(b))

    def isub(self, a, b):
        return self.b.sub(self._i(a), self._i(b))

    def iand(self, a, b):
        return self.b.and_(self._i(a), self._i(b))

    def ixor(self, a, b):
        return self.b.xor(self._i(a), self._i(b))

    def shl(self, a, n: int):
        return self.b.shl(self._i(a), self.i(n))

    def ashr(self, a, n: int):
        return self.b.ashr(self._i(a), self.i(n))

    def ieq(self, a, b):
        return self.b.icmp_signed("==", self._i(a), self._i(b))

    def signbit(self, x):
        """True when x's sign bit is set (also for -0.0 and negative nans)."""
        return self.b.icmp_signed("<", self.to_int(x), self.i(0))

    def round_magic(self, x):
        """(rint(x), its integer bits): x + magic rounds to an integer in the low mantissa bits,
        so no fptosi is needed (fptosi of nan or of a huge value is poison in LLVM).
        Valid for |x| < 2**(mant-1); beyond that the integer is garbage but defined."""
        t = self.add(x, self.magic)
        return self.sub(t, self.magic), self.isub(self.to_int(t), self.to_int(self.c(self.magic)))

    def small_int_to_float(self, k):
        """Integer k (|k| < 2**(mant-1)) as a float, without sitofp (which does not vectorize
        on every x86 level)."""
        magic_bits = self.to_int(self.c(self.magic))
        return self.sub(self.from_int(self.iadd(magic_bits, k)), self.magic)

    def pow2i(self, k):
        """2**k for an integer k in the normal exponent range."""
        return self.from_int(self.shl(self.iadd(k, self.bias), self.mant))

    def ldexp(self, x, k):
        """x * 2**k for |k| up to about twice the exponent range, with one rounding: the scale
        is split in two halves so that each factor is a normal number, which keeps subnormal
        results correctly rounded and sends overflow to inf."""
        k1 = self.ashr(k, 1)
        k2 = self.isub(k, k1)
        return self.mul(self.mul(x, self.pow2i(k1)), self.pow2i(k2))
