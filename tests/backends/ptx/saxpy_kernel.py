"""A saxpy kernel built by hand with llvmlite's IR builder and compiled by LLVM's NVPTX
target: ``out[i] = a * x[i] + y[i]`` for ``i < n``, in a grid-stride loop over
``llvm.nvvm.read.ptx.sreg.*``. Tests of ``ptxas`` and of the CUDA runtime share it.

PTX is generated in a child process (``saxpy_ptx``) because an NVPTX lowering failure is an
LLVM fatal error that aborts the whole process (docs: DESIGN facts); run as a script it
prints the PTX: ``python saxpy_kernel.py sm_90``."""

from __future__ import annotations

import functools
import subprocess
import sys

TRIPLE = "nvptx64-nvidia-cuda"
KERNEL = "saxpy"


def build_saxpy_ir():
    """The kernel as an llvmlite ``ir.Module``:
    ``void saxpy(i64 n, float a, ptr addrspace(1) x, ptr addrspace(1) y, ptr addrspace(1) out)``.
    """
    from llvmlite import ir

    module = ir.Module(KERNEL)
    module.triple = TRIPLE
    i32, i64, f32 = ir.IntType(32), ir.IntType(64), ir.FloatType()
    global_ptr = ir.PointerType(addrspace=1)
    special = {name: ir.Function(module, ir.FunctionType(i32, []),
                                 f"llvm.nvvm.read.ptx.sreg.{name}")
               for name in ("tid.x", "ntid.x", "ctaid.x", "nctaid.x")}
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [i64, f32, global_ptr,
                                                             global_ptr, global_ptr]), KERNEL)
    fn.calling_convention = "ptx_kernel"
    n, a, x, y, out = fn.args
    entry, loop, body, done = (fn.append_basic_block(b) for b in ("entry", "loop", "body",
                                                                 "done"))
    b = ir.IRBuilder(entry)

    def read(name: str):
        return b.zext(b.call(special[name], []), i64)

    start = b.add(b.mul(read("ctaid.x"), read("ntid.x")), read("tid.x"))
    step = b.mul(read("ntid.x"), read("nctaid.x"))
    b.branch(loop)
    b.position_at_end(loop)
    i = b.phi(i64, "i")
    i.add_incoming(start, entry)
    b.cbranch(b.icmp_signed("<", i, n), body, done)
    b.position_at_end(body)

    def element(ptr):
        return b.gep(ptr, [i], inbounds=True, source_etype=f32)

    value = b.fadd(b.fmul(a, b.load(element(x), typ=f32)), b.load(element(y), typ=f32))
    b.store(value, element(out))
    i.add_incoming(b.add(i, step), body)
    b.branch(loop)
    b.position_at_end(done)
    b.ret_void()
    return module


def compile_ptx(arch: str) -> str:
    """PTX for ``arch`` at O3 (call in a child process; see the module docstring)."""
    import llvmlite.binding as llvm

    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    parsed = llvm.parse_assembly(str(build_saxpy_ir()))
    parsed.verify()
    machine = llvm.Target.from_triple(TRIPLE).create_target_machine(cpu=arch, opt=3)
    passes = llvm.create_pass_builder(machine, llvm.create_pipeline_tuning_options(3))
    passes.getModulePassManager().run(parsed, passes)
    return machine.emit_assembly(parsed)


@functools.cache
def saxpy_ptx(arch: str = "sm_90") -> str:
    """The saxpy PTX for ``arch``, generated in a child process of this interpreter."""
    done = subprocess.run([sys.executable, __file__, arch], capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"PTX generation for {arch} failed (exit {done.returncode}):\n"
                           f"{done.stderr}")
    return done.stdout


if __name__ == "__main__":
    sys.stdout.write(compile_ptx(sys.argv[1] if len(sys.argv) > 1 else "sm_90"))
