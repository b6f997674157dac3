"""NVIDIA's PTX assembler as a checker: find ``ptxas`` (PATH, then the ``nvidia-cuda-nvcc``
wheel, then a CUDA toolkit), assemble PTX text for an architecture with ``-v``, and read its
report (registers, stack, spills, barriers, shared memory per function; errors and warnings
with PTX line numbers). Needs no GPU."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from dynajit.errors import CompileError

# Where the nvidia-cuda-nvcc wheel puts ptxas under site-packages/nvidia/: 13.x wheels use
# cu13/bin, 12.x wheels cuda_nvcc/bin. Any other */bin/ptxas there is tried after these.
_WHEEL_LAYOUTS = ("cu13/bin/ptxas", "cuda_nvcc/bin/ptxas")

_DIAGNOSTIC = re.compile(
    r"^ptxas\s+(?:(?P<file>[^,\n]+), line (?P<line>\d+); )?"
    r"(?P<severity>error|warning|fatal|info)\s*: (?P<message>.*)$")
_COMPILING = re.compile(r"Compiling entry function '(?P<name>[^']+)' for '(?P<arch>[^']+)'")
_PROPERTIES = re.compile(r"Function properties for (?P<name>\S+)")
_FRAME = re.compile(r"(?P<stack>\d+) bytes stack frame, (?P<stores>\d+) bytes spill stores, "
                    r"(?P<loads>\d+) bytes spill loads")
_USED = re.compile(r"Used (?P<registers>\d+) registers")
_BARRIERS = re.compile(r"used (?P<barriers>\d+) barriers")
_SMEM = re.compile(r"(?P<smem>\d+) bytes smem")


class PtxasNotFound(CompileError):
    """``ptxas`` is not installed where dynajit looks; the message lists the places."""


class PtxasError(CompileError):
    """``ptxas`` rejected the PTX. ``report`` holds everything it said."""

    def __init__(self, message: str, report: PtxasReport):
        super().__init__(message)
        self.report = report


@dataclasses.dataclass(frozen=True)
class Diagnostic:
    """One ``error``, ``warning`` or ``fatal`` line; ``line`` is the PTX line it names."""

    severity: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.severity}: {self.message}"


@dataclasses.dataclass(frozen=True)
class FunctionUsage:
    """Resources ptxas assigned one function (``entry`` marks kernels); sizes in bytes."""

    name: str
    entry: bool
    registers: int | None = None
    stack_frame: int = 0
    spill_stores: int = 0
    spill_loads: int = 0
    barriers: int = 0
    shared_memory: int = 0


@dataclasses.dataclass(frozen=True)
class PtxasReport:
    """What one ``ptxas -v`` run said. ``cubin`` is the assembled machine code (loadable
    with the driver in place of the PTX) when assembly succeeded."""

    ptxas: str
    arch: str
    returncode: int
    functions: dict[str, FunctionUsage]
    diagnostics: tuple[Diagnostic, ...]
    log: str
    cubin: bytes | None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.errors

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity in ("error", "fatal"))

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "warning")

    @property
    def spills(self) -> int:
        """Spill store plus spill load bytes over all functions (0 is the goal)."""
        return sum(f.spill_stores + f.spill_loads for f in self.functions.values())

    def raise_on_error(self) -> PtxasReport:
        """Raise ``PtxasError`` listing ptxas's errors unless assembly succeeded."""
        if not self.ok:
            details = "\n".join(f"  {d}" for d in self.errors) or self.log.strip()
            raise PtxasError(f"ptxas -arch={self.arch} rejected the PTX "
                             f"(exit {self.returncode}):\n{details}", self)
        return self


def find_ptxas() -> str:
    """The path of ``ptxas``: on PATH, else from the ``nvidia-cuda-nvcc`` wheel in this
    environment, else under ``$CUDA_HOME``/``$CUDA_PATH``/``/usr/local/cuda``. Raises
    ``PtxasNotFound`` naming every place looked at."""
    found = shutil.which("ptxas")
    if found:
        return found
    looked = ["ptxas on PATH"]
    for candidate in _wheel_candidates() + _toolkit_candidates():
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
        looked.append(str(candidate))
    raise PtxasNotFound(
        "ptxas not found; looked for " + ", ".join(looked)
        + ". Install it with `pip install nvidia-cuda-nvcc` (dynajit's `gpu` extra) or put a "
        "CUDA toolkit's bin directory on PATH")


def _wheel_candidates() -> list[Path]:
    try:
        spec = importlib.util.find_spec("nvidia")
    except (ImportError, ValueError):
        spec = None
    # One root per site directory holding the `nvidia` namespace, in sys.path order.
    roots = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    candidates: list[Path] = []
    for root in roots:
        known = [root / layout for layout in _WHEEL_LAYOUTS]
        candidates += known + [p for p in sorted(root.glob("*/bin/ptxas")) if p not in known]
    return candidates


def _toolkit_candidates() -> list[Path]:
    homes = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"]
    return [Path(home) / "bin" / "ptxas" for home in homes if home]


def run_ptxas(ptx: str, arch: str = "sm_90", *, max_registers: int | None = None,
              extra_args: tuple[str, ...] = (), ptxas: str | None = None,
              timeout: float = 120.0) -> PtxasReport:
    """Assemble ``ptx`` for ``arch`` with ``ptxas -v`` and return its report; PTX errors
    are in the report (``report.raise_on_error()`` turns them into ``PtxasError``).

    >>> report = run_ptxas(ptx, "sm_90").raise_on_error()
    >>> report.functions["saxpy"].registers, report.spills
    (20, 0)
    """
    exe = ptxas or find_ptxas()
    with tempfile.TemporaryDirectory(prefix="dynajit-ptxas-") as tmp:
        source, cubin = Path(tmp) / "kernel.ptx", Path(tmp) / "kernel.cubin"
        source.write_text(ptx)
        command = [exe, f"-arch={arch}", "-v", "-o", str(cubin), str(source)]
        if max_registers is not None:
            command[1:1] = ["--maxrregcount", str(max_registers)]
        command[1:1] = list(extra_args)
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise CompileError(f"ptxas did not finish in {timeout:.0f} s: "
                               f"{' '.join(command)}") from None
        except OSError as exc:
            raise PtxasNotFound(f"cannot run ptxas at {exe}: {exc}") from None
        log = done.stdout + done.stderr
        functions, diagnostics = parse_ptxas_log(log)
        return PtxasReport(
            ptxas=exe, arch=arch, returncode=done.returncode, functions=functions,
            diagnostics=diagnostics, log=log,
            cubin=cubin.read_bytes() if done.returncode == 0 and cubin.exists() else None)


def parse_ptxas_log(log: str) -> tuple[dict[str, FunctionUsage], tuple[Diagnostic, ...]]:
    """Per-function resource use and the diagnostics from ``ptxas -v`` output."""
    usage: dict[str, dict] = {}
    diagnostics: list[Diagnostic] = []
    current: dict | None = None
    for raw in log.splitlines():
        line = raw.strip()
        match = _DIAGNOSTIC.match(line)
        if match and match["severity"] != "info":
            diagnostics.append(Diagnostic(match["severity"], match["message"].strip(),
                                          int(match["line"]) if match["line"] else None))
            continue
        if (found := _COMPILING.search(line)) is not None:
            current = usage.setdefault(found["name"], {"name": found["name"], "entry": True})
        elif (found := _PROPERTIES.search(line)) is not None:
            current = usage.setdefault(found["name"], {"name": found["name"], "entry": False})
        elif current is not None and (found := _FRAME.search(line)) is not None:
            current.update(stack_frame=int(found["stack"]), spill_stores=int(found["stores"]),
                           spill_loads=int(found["loads"]))
        elif current is not None and (found := _USED.search(line)) is not None:
            current["registers"] = int(found["registers"])
            if (barriers := _BARRIERS.search(line)) is not None:
                current["barriers"] = int(barriers["barriers"])
            if (smem := _SMEM.search(line)) is not None:
                current["shared_memory"] = int(smem["smem"])
    functions = {name: FunctionUsage(**fields) for name, fields in usage.items()}
    return functions, tuple(diagnostics)
