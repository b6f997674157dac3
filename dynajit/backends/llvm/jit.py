"""The process-wide LLVM state (STYLE: codegen has two lifetimes): one target machine for
this host's CPU and features, one MCJIT engine that owns every loaded kernel, the O3
pipeline, and the on-disk kernel cache. A kernel module is optimized and compiled to object
code once; the object code is stored under a key naming everything that changes the machine
code (IR text, triple, CPU name and features, llvmlite and dynajit versions, pipeline), so a
new process loads it instead of compiling. Entries are written to a temporary file and
renamed (readers never see half an entry) and carry a checksum (a corrupt entry is rebuilt)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm

from dynajit.trace import structured

_CACHE_FORMAT = "1"
_MAGIC = b"DJKO"


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "dynajit", "kernels")


class Jit:
    """Compiles LLVM IR modules to machine code and returns function addresses."""

    def __init__(self) -> None:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        self.triple = llvm.get_process_triple()
        self.cpu = llvm.get_host_cpu_name()
        self.features = llvm.get_host_cpu_features().flatten()
        target = llvm.Target.from_triple(self.triple)
        self.target_machine = target.create_target_machine(
            cpu=self.cpu, features=self.features, opt=3, reloc="default", codemodel="jitdefault",
            jit=True)
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), self.target_machine)
        self.lock = threading.Lock()
        self.addresses: dict[str, int] = {}
        self.stats = {"compiled": 0, "disk_hits": 0, "memory_hits": 0, "compile_s": 0.0}
        from dynajit import __version__

        self.machine_key = "|".join([_CACHE_FORMAT, self.triple, self.cpu, self.features,
                                     llvmlite.__version__, llvm.llvm_version_info.__repr__(),
                                     __version__, "O3"])

    # ---------------------------------------------------------------------------- compile
    def optimize(self, module: llvm.ModuleRef) -> None:
        pto = llvm.create_pipeline_tuning_options(speed_level=3)
        pto.loop_vectorization = True
        pto.slp_vectorization = True
        pto.loop_unrolling = True
        pto.loop_interleaving = True
        pb = llvm.create_pass_builder(self.target_machine, pto)
        pb.getModulePassManager().run(module, pb)

    def key(self, ir_text: str) -> str:
        return hashlib.sha256((self.machine_key + "\n" + ir_text).encode()).hexdigest()

    def address(self, ir_text: str, name: str, cache_dir: str | None) -> int:
        """The address of function ``name`` defined by ``ir_text`` (compiled at most once per
        process, and once per machine when ``cache_dir`` is set)."""
        return self.address_of_key(self.key(ir_text), name, cache_dir, ir_text)

    def address_of_key(self, key: str, name: str, cache_dir: str | None,
                       ir_text: str | None = None) -> int:
        """The address for an IR key; without ``ir_text`` only a loaded or cached object can
        serve (returns 0 when there is none)."""
        with self.lock:
            if key in self.addresses:
                self.stats["memory_hits"] += 1
                return self.addresses[key]
            started = time.perf_counter()
            obj = _read_entry(cache_dir, key) if cache_dir else None
            if obj is not None and _defines(obj, _symbol(name, key)):
                self.stats["disk_hits"] += 1
            elif ir_text is None:
                return 0
            else:  # missing, corrupt or stale: build it (again)
                obj = self._compile(ir_text, key)
                if cache_dir:
                    _write_entry(cache_dir, key, obj)
            self.engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
            self.engine.finalize_object()
            addr = self.engine.get_function_address(_symbol(name, key))
            if not addr:
                raise RuntimeError(f"kernel {name} not found in its compiled object")
            self.addresses[key] = addr
            self.stats["compile_s"] += time.perf_counter() - started
            return addr

    def _compile(self, ir_text: str, key: str) -> bytes:
        # Kernels from different graphs may share a name: the symbol carries the key.
        module = llvm.parse_assembly(ir_text.replace('@"__kernel__"', f'@"{_symbol("", key)}"'))
        module.verify()
        self.optimize(module)
        self.stats["compiled"] += 1
        obj = self.target_machine.emit_object(module)
        structured.record("dynajit_kernel_compiled", metadata={"key": key[:16],
                                                               "bytes": len(obj)})
        return obj

    def optimized_ir(self, ir_text: str) -> str:
        module = llvm.parse_assembly(ir_text)
        self.optimize(module)
        return str(module)

    def assembly(self, ir_text: str) -> str:
        module = llvm.parse_assembly(ir_text)
        self.optimize(module)
        return self.target_machine.emit_assembly(module)


def read_note(cache_dir: str, key: str) -> dict | None:
    """A small JSON note stored beside the objects (kernel signature -> IR key)."""
    import json

    try:
        return json.loads((Path(cache_dir) / "sig" / key[:2] / f"{key}.json").read_text())
    except (OSError, ValueError):
        return None


def write_note(cache_dir: str, key: str, note: dict) -> None:
    import json

    path = Path(cache_dir) / "sig" / key[:2] / f"{key}.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "w") as f:
            json.dump(note, f)
        os.replace(tmp, path)
    except OSError:
        pass


def _defines(obj: bytes, symbol: str) -> bool:
    """The object names ``symbol`` in its string table (an entry from an older code
    generator that named its kernel differently is stale)."""
    return symbol.encode() + b"\0" in obj


def _symbol(name: str, key: str) -> str:
    return f"dynajit_kernel_{key[:24]}"


# ------------------------------------------------------------------------------ disk cache
def _entry_path(cache_dir: str, key: str) -> Path:
    return Path(cache_dir) / key[:2] / f"{key}.o"


def _read_entry(cache_dir: str, key: str) -> bytes | None:
    path = _entry_path(cache_dir, key)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) < 36 or data[:4] != _MAGIC:
        return None
    digest, body = data[4:36], data[36:]
    if hashlib.sha256(body).digest() != digest:
        structured.record("dynajit_kernel_cache_corrupt", metadata={"path": str(path)})
        return None
    return body


def _write_entry(cache_dir: str, key: str, obj: bytes) -> None:
    path = _entry_path(cache_dir, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC + hashlib.sha256(obj).digest() + obj)
        os.replace(tmp, path)  # atomic: a reader sees the old entry, none, or this one
    except OSError:
        pass  # a read-only or full cache directory only costs a recompile next time


_JIT: Jit | None = None
_JIT_LOCK = threading.Lock()


def get_jit() -> Jit:
    global _JIT
    with _JIT_LOCK:
        if _JIT is None:
            _JIT = Jit()
        return _JIT
