"""ptxas as a checker: finding it, reading its ``-v`` report, and assembling the PTX that
LLVM's NVPTX target makes from a hand-built llvmlite saxpy (skips when ptxas is missing)."""

from __future__ import annotations

import stat

import pytest

from dynajit.backends.ptx import ptxas
from dynajit.backends.ptx.ptxas import (
    Diagnostic,
    FunctionUsage,
    PtxasError,
    PtxasNotFound,
    find_ptxas,
    parse_ptxas_log,
    run_ptxas,
)
from dynajit.errors import CompileError
from tests.backends.ptx.saxpy_kernel import saxpy_ptx

# ptxas 13.0 output, verbatim.
SPILLING_LOG = """\
ptxas info    : Overriding maximum register limit 256 for 'many' with  24 of maxrregcount option
ptxas warning : Registers are spilled to local memory in function 'many', 440 bytes spill stores, 544 bytes spill loads
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'many' for 'sm_90'
ptxas info    : Function properties for many
    424 bytes stack frame, 440 bytes spill stores, 544 bytes spill loads
ptxas info    : Used 24 registers, used 0 barriers, 424 bytes cumulative stack size
ptxas info    : Compiling entry function 's' for 'sm_90'
ptxas info    : Function properties for s
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 10 registers, used 1 barriers, 1024 bytes smem
ptxas info    : Function properties for helper
    8 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
"""  # noqa: E501
ERROR_LOG = """\
ptxas /tmp/dynajit-ptxas-x/kernel.ptx, line 11; error   : Arguments mismatch for instruction 'st'
ptxas /tmp/dynajit-ptxas-x/kernel.ptx, line 12; error   : Unknown modifier '.op'
ptxas fatal   : Ptx assembly aborted due to errors
"""

BROKEN_PTX = """\
.version 7.8
.target sm_90
.address_size 64

.visible .entry k(
\t.param .u64 k_param_0
)
{
\t.reg .b64 \t%rd<4>;
\tld.param.u64 \t%rd1, [k_param_0];
\tst.global.f32 \t[%rd1], %f9;
\tbogus.op %rd1;
\tret;
}
"""


def many_live_values_ptx(count: int = 48) -> str:
    """A kernel keeping ``count`` floats live at once: it spills under a small register cap."""
    body = [f"ld.global.volatile.f32 %f{i}, [%rd2+{4 * i}];" for i in range(count)]
    body.append(f"mov.f32 %f{count}, 0f00000000;")
    body += [f"fma.rn.f32 %f{count}, %f{i}, %f{i + 1}, %f{count};" for i in range(count - 1)]
    body += [f"add.f32 %f{i}, %f{i}, %f{count};" for i in range(count)]
    body += [f"st.global.volatile.f32 [%rd2+{4 * i}], %f{i};" for i in range(count)]
    return "\n".join([
        ".version 7.8", ".target sm_90", ".address_size 64",
        ".visible .entry many(.param .u64 many_param_0)", "{",
        f".reg .f32 %f<{count + 1}>;", ".reg .b64 %rd<3>;",
        "ld.param.u64 %rd1, [many_param_0];", "cvta.to.global.u64 %rd2, %rd1;",
        *body, "ret;", "}", ""])


@pytest.fixture(scope="module")
def ptxas_path() -> str:
    try:
        return find_ptxas()
    except PtxasNotFound as exc:
        pytest.skip(f"ptxas is not installed (pip install nvidia-cuda-nvcc): {exc}")


# reading the log


def test_log_parser_reads_each_functions_resources():
    functions, diagnostics = parse_ptxas_log(SPILLING_LOG)
    assert functions == {
        "many": FunctionUsage("many", entry=True, registers=24, stack_frame=424,
                              spill_stores=440, spill_loads=544),
        "s": FunctionUsage("s", entry=True, registers=10, barriers=1, shared_memory=1024),
        "helper": FunctionUsage("helper", entry=False, stack_frame=8),
    }
    assert diagnostics == (Diagnostic(
        "warning", "Registers are spilled to local memory in function 'many', "
        "440 bytes spill stores, 544 bytes spill loads"),)


def test_log_parser_reads_errors_with_ptx_lines():
    functions, diagnostics = parse_ptxas_log(ERROR_LOG)
    assert functions == {}
    assert diagnostics == (
        Diagnostic("error", "Arguments mismatch for instruction 'st'", 11),
        Diagnostic("error", "Unknown modifier '.op'", 12),
        Diagnostic("fatal", "Ptx assembly aborted due to errors"))
    assert str(diagnostics[0]) == "line 11: error: Arguments mismatch for instruction 'st'"


# finding ptxas


def _executable(path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_find_ptxas_prefers_path(tmp_path, monkeypatch):
    exe = _executable(tmp_path / "bin" / "ptxas")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert find_ptxas() == exe


@pytest.mark.parametrize("layout", ["cu13/bin/ptxas", "cuda_nvcc/bin/ptxas", "cu14/bin/ptxas"])
def test_find_ptxas_falls_back_to_the_nvcc_wheel(tmp_path, monkeypatch, layout):
    exe = _executable(tmp_path / "site" / "nvidia" / layout)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert find_ptxas() == exe


def test_missing_ptxas_says_where_it_looked_and_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("CUDA_HOME", str(tmp_path / "cuda"))
    monkeypatch.setattr(ptxas, "_wheel_candidates", lambda: [tmp_path / "w" / "ptxas"])
    monkeypatch.setattr(ptxas, "_toolkit_candidates", lambda: [tmp_path / "cuda" / "ptxas"])
    with pytest.raises(PtxasNotFound) as info:
        run_ptxas(BROKEN_PTX)
    message = str(info.value)
    assert isinstance(info.value, CompileError)
    assert "ptxas on PATH" in message and str(tmp_path / "w" / "ptxas") in message
    assert "pip install nvidia-cuda-nvcc" in message


# running ptxas


def test_llvmlite_saxpy_ptx_is_a_grid_stride_kernel():
    ptx = saxpy_ptx("sm_90")
    assert ".target sm_90" in ptx and ".visible .entry saxpy(" in ptx
    for register in ("%tid.x", "%ntid.x", "%ctaid.x", "%nctaid.x"):
        assert register in ptx
    assert ptx.count("bra") >= 2  # the loop's back edge and its exit


@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_llvmlite_saxpy_assembles_without_spills(ptxas_path, arch):
    report = run_ptxas(saxpy_ptx(arch), arch).raise_on_error()
    usage = report.functions["saxpy"]
    assert usage.entry and 0 < usage.registers <= 32
    assert report.spills == 0 and usage.stack_frame == 0
    assert report.cubin is not None and report.cubin[:4] == b"\x7fELF"
    assert report.ptxas == ptxas_path


def test_ptxas_errors_come_back_with_lines(ptxas_path):
    report = run_ptxas(BROKEN_PTX)
    assert not report.ok and report.cubin is None
    assert {d.line for d in report.errors if d.severity == "error"} == {11, 12}
    with pytest.raises(PtxasError, match=r"ptxas -arch=sm_90 rejected the PTX") as info:
        report.raise_on_error()
    assert info.value.report is report
    assert "line 12: error: Unknown modifier '.op'" in str(info.value)


def test_register_cap_makes_spills_visible(ptxas_path):
    ptx = many_live_values_ptx()
    assert run_ptxas(ptx).spills == 0
    capped = run_ptxas(ptx, max_registers=24).raise_on_error()
    many = capped.functions["many"]
    assert many.registers <= 24 and many.spill_stores > 0 and many.spill_loads > 0
    assert capped.spills == many.spill_stores + many.spill_loads


def test_extra_arguments_reach_ptxas(ptxas_path):
    report = run_ptxas(many_live_values_ptx(), max_registers=24,
                       extra_args=("--warn-on-spills",))
    assert any("spill" in w.message for w in report.warnings), report.log


def test_ptxas_that_cannot_run_is_reported(tmp_path):
    with pytest.raises(PtxasNotFound, match="cannot run ptxas"):
        run_ptxas(BROKEN_PTX, ptxas=str(tmp_path / "missing-ptxas"))


def test_installed_wheel_ptxas_is_found_without_path(tmp_path, monkeypatch):
    installed = [p for p in ptxas._wheel_candidates() if p.is_file()]
    if not installed:
        pytest.skip("the nvidia-cuda-nvcc wheel is not installed in this environment")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    found = find_ptxas()
    assert found == str(installed[0])
    report = run_ptxas(saxpy_ptx("sm_90"), ptxas=found).raise_on_error()
    assert report.functions["saxpy"].registers > 0
