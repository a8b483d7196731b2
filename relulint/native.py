"""The probe's one C kernel (``pair_step.c``): built once per machine with the system C compiler, loaded
with ctypes, and optional.

Eager PyTorch runs the pair engine's layer step (lerp, ReLU, the three Gram sums) as about seven passes over
the drawn numbers; the kernel runs it as one (and the per-sample bookkeeping after it), which keeps the probe within a small factor of the cost of
drawing its random numbers (``benchmarks/bench_probe.py``). The PyTorch path in `relulint.pair_step` gives
bit-identical results, so the kernel changes speed only, never a result: a CI runner without a compiler
and a laptop with one report the same estimate for the same seed.

The shared library is built from the packaged source on first use (about 0.2 s) into a per-user cache
directory (``$RELULINT_CACHE_DIR``, else ``$XDG_CACHE_HOME/relulint``, else ``~/.cache/relulint``), under a
name that hashes the source, the compiler, its flags and the CPU, so machines sharing a home directory never
load each other's builds. Anything that goes wrong (no compiler, a failed build, a cache we cannot write) falls
back to the PyTorch path; ``RELULINT_NATIVE=0`` turns the kernel off.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PairKernel", "native_status", "pair_kernel"]

SOURCE = Path(__file__).with_name("pair_step.c")
# IEEE semantics kept (no fast-math, no FMA contraction): the results match the PyTorch path bit for bit.
# -fno-math-errno / -fno-trapping-math change no value, only let the compiler vectorise.
BASE_FLAGS = (
    "-O3",
    "-std=c99",
    "-fPIC",
    "-shared",
    "-ffp-contract=off",
    "-fno-math-errno",
    "-fno-trapping-math",
)
BUILD_TIMEOUT_S = 60.0
OFF_VALUES = ("0", "false", "no", "off")


@dataclass(frozen=True)
class PairKernel:
    """The loaded kernel's two functions, on raw pointers: ``step(gram, eps, gram_out, cos_out, zero, units,
    m, tiny, keep)``, ``gram(h, out, points, units, m)`` and ``tally(phi, zero, alive, died, m, scale, offset,
    live) -> killed`` (see ``pair_step.c``)."""

    step: Any
    gram: Any
    tally: Any
    path: Path


_lock = threading.Lock()
_state: dict[str, object] = {}


def pair_kernel() -> PairKernel | None:
    """The kernel, built and loaded on the first call (None: use the PyTorch path; `native_status` says why)."""
    with _lock:
        if "kernel" not in _state:
            kernel, why = _load()
            _state["kernel"], _state["why"] = kernel, why
        return _state["kernel"]  # type: ignore[return-value]


def native_status() -> str:
    """One line: which path the pair engine's step takes on the CPU, and why."""
    kernel = pair_kernel()
    if kernel is not None:
        return f"native kernel ({kernel.path})"
    return f"PyTorch path: {_state['why']}"


def _reset() -> None:
    """Forget the loaded kernel (tests: load again under another environment)."""
    with _lock:
        _state.clear()


def _load() -> tuple[PairKernel | None, str]:
    if os.environ.get("RELULINT_NATIVE", "1").strip().lower() in OFF_VALUES:
        return None, "RELULINT_NATIVE=0"
    compiler = _compiler()
    if compiler is None:
        return None, "no C compiler found (set CC)"
    flags = _flags()
    try:
        source = SOURCE.read_bytes()
    except OSError as exc:
        return None, f"kernel source missing ({exc.strerror})"
    cache = _cache_dir()
    if cache is None:
        return None, "no writable cache directory (set RELULINT_CACHE_DIR)"
    key = hashlib.sha256(
        b"\0".join([source, compiler.encode(), " ".join(flags).encode(), _cpu_key().encode()])
    ).hexdigest()[:16]
    library = cache / f"pair_step-{key}{_suffix()}"
    if not library.exists():
        why = _build(compiler, flags, library)
        if why:
            return None, why
    try:
        lib = ctypes.CDLL(str(library))
        step, gram, tally = lib.relulint_pair_step, lib.relulint_gram, lib.relulint_tally
    except (OSError, AttributeError) as exc:
        return None, f"could not load {library.name} ({exc})"
    step.argtypes = [ctypes.c_void_p] * 5 + [ctypes.c_int64, ctypes.c_int64, ctypes.c_double, ctypes.c_int64]
    gram.argtypes = [ctypes.c_void_p] * 2 + [ctypes.c_int64] * 3
    tally.argtypes = [ctypes.c_void_p] * 4 + [
        ctypes.c_int64,
        ctypes.c_double,
        ctypes.c_double,
        ctypes.c_void_p,
    ]
    step.restype = gram.restype = None
    tally.restype = ctypes.c_int64
    return PairKernel(step, gram, tally, library), ""


def _compiler() -> str | None:
    named = os.environ.get("CC", "").strip()
    if named:
        return shutil.which(named) or (named if os.path.isfile(named) else None)
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _flags() -> list[str]:
    flags = list(BASE_FLAGS)
    if platform.machine().lower() in ("x86_64", "amd64") and "avx2" in _cpu_flags():
        flags.append("-mavx2")  # AVX2 without FMA: wider vectors, the same IEEE operations
    return flags


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def _cpu_key() -> str:
    """What a build depends on beyond source and flags: the OS, the machine and its CPU model."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        model = platform.processor()
    return f"{sys.platform}|{platform.machine()}|{model}"


def _suffix() -> str:
    return {"darwin": ".dylib", "win32": ".dll"}.get(sys.platform, ".so")


def _cache_dir() -> Path | None:
    """The first of the candidate directories that is ours and writable (created 0700)."""
    explicit = os.environ.get("RELULINT_CACHE_DIR")
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        candidates.append(Path(xdg) / "relulint" if xdg else Path.home() / ".cache" / "relulint")
        uid = os.getuid() if hasattr(os, "getuid") else "user"
        candidates.append(Path(tempfile.gettempdir()) / f"relulint-{uid}")
    for path in candidates:
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            if hasattr(os, "getuid") and path.stat().st_uid != os.getuid():
                continue  # never load code from a directory someone else owns
            if os.access(path, os.W_OK):
                return path
        except OSError:
            continue
    return None


def _build(compiler: str, flags: list[str], library: Path) -> str:
    """Compile into a temporary file beside ``library`` and move it into place (atomic: concurrent runs
    never load a half-written file). Returns why it failed ('' on success)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=library.stem + ".", suffix=".tmp", dir=library.parent)
        os.close(fd)
    except OSError as exc:
        return f"cannot write the kernel into {library.parent} ({exc.strerror})"
    try:
        done = subprocess.run(
            [compiler, *flags, "-o", tmp, str(SOURCE), "-lm"],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            return f"building the kernel failed ({Path(compiler).name}: {last})"
        os.replace(tmp, library)
        return ""
    except (OSError, subprocess.SubprocessError) as exc:
        return f"building the kernel failed ({exc})"
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
