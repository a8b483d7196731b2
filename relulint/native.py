"""The probe's one C kernel (``pair_step.c``): built once per machine with the system C compiler, loaded
with ctypes, and optional.

Eager PyTorch runs the pair engine's layer step (lerp, ReLU, the three Gram sums) as about ten passes over
the drawn numbers; the kernel runs it as one (and the per-sample bookkeeping after it), which keeps the probe
within a small factor of the cost of drawing its random numbers (``benchmarks/bench_probe.py``). The PyTorch
path in `relulint.pair_step` gives bit-identical results, so the kernel changes speed only, never a result:
a CI runner without a compiler and a laptop with one report the same estimate for the same seed. Each time
it loads, the kernel is run beside the PyTorch path on fixed inputs and refused unless they agree bit for
bit (a compiler that reassociates sums or keeps excess precision would not).

The shared library is built from the packaged source on first use (about 1.5 s, once) into a per-user cache
directory (``$RELULINT_CACHE_DIR``, else ``$XDG_CACHE_HOME/relulint``, else ``~/.cache/relulint``), under a
name that hashes the source, the compiler, its flags and the CPU, so machines sharing a home directory never
load each other's builds. The directory and the library must be ours and writable by no one else. Anything
that goes wrong (no compiler, a failed build, a cache we cannot use, a failed self-check) falls back to the
PyTorch path; ``RELULINT_NATIVE=0`` turns the kernel off; ``CC`` picks the compiler (arguments allowed:
``CC="ccache gcc"``).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shlex
import shutil
import stat
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
    "-fno-fast-math",
    "-fno-math-errno",
    "-fno-trapping-math",
)
BUILD_TIMEOUT_S = 60.0
OFF_VALUES = ("0", "false", "no", "off")


@dataclass(frozen=True)
class PairKernel:
    """The loaded kernel's functions, on raw pointers: ``step(gram, eps, gram_out, cos_out, zero, units, m,
    tiny, keep)``, ``gram(h, out, points, units, m)``, ``tally(phi, zero, alive, died, m, scale, offset,
    live) -> killed`` and ``relu_state(z, live, top, points, units, m)`` (see ``pair_step.c``)."""

    step: Any
    gram: Any
    tally: Any
    relu_state: Any
    path: Path


_lock = threading.Lock()
_state: dict[str, Any] = {}


def pair_kernel() -> PairKernel | None:
    """The kernel, built and loaded on the first call (None: use the PyTorch path; `native_status` says why)."""
    with _lock:
        if "kernel" not in _state:
            try:
                kernel, why = _load()
            except Exception as exc:  # never let the fast path break the probe
                kernel, why = None, f"could not set up the kernel ({type(exc).__name__}: {exc})"
            _state["kernel"], _state["why"] = kernel, why
        return _state["kernel"]


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


def _uid() -> int | None:
    return os.getuid() if hasattr(os, "getuid") else None


def _load() -> tuple[PairKernel | None, str]:
    if os.environ.get("RELULINT_NATIVE", "1").strip().lower() in OFF_VALUES:
        return None, "RELULINT_NATIVE=0"
    compiler = _compiler()
    if compiler is None:
        return None, "no C compiler found (set CC)"
    flags = _flags()
    cache = _cache_dir()
    if cache is None:
        return None, "no private, writable cache directory (set RELULINT_CACHE_DIR)"
    library = cache / _library_name(compiler, flags)
    if library.exists():
        kernel, why = _open(library)
        if kernel is not None or why.startswith("refused"):
            return kernel, why
        library.unlink(missing_ok=True)  # truncated or corrupt: build it again
    why = _build(compiler, flags, library)
    if why:
        return None, why
    return _open(library)


def _library_name(compiler: list[str], flags: list[str]) -> str:
    """``pair_step-<hash of the source, compiler, flags and CPU>.so``: a build is reused only where it fits."""
    parts = [SOURCE.read_bytes(), " ".join(compiler).encode(), " ".join(flags).encode(), _cpu_key().encode()]
    digest = hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]
    return f"pair_step-{digest}{_suffix()}"


def _open(library: Path) -> tuple[PairKernel | None, str]:
    """Load ``library`` if it is ours and no one else can write it, and if it passes the self-check."""
    info = library.stat()
    uid = _uid()
    if (uid is not None and info.st_uid != uid) or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None, f"refused {library} (not ours, or writable by others)"
    try:
        lib = ctypes.CDLL(str(library))
        step, gram, tally = lib.relulint_pair_step, lib.relulint_gram, lib.relulint_tally
        relu_state = lib.relulint_relu_state
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
    relu_state.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int64] * 3
    step.restype = gram.restype = relu_state.restype = None
    tally.restype = ctypes.c_int64
    kernel = PairKernel(step, gram, tally, relu_state, library)
    from relulint.pair_step import self_check  # the PyTorch twin lives there

    differs = self_check(kernel)
    if differs:
        return None, f"refused {library.name}: {differs} (set CC to another compiler)"
    return kernel, ""


def _compiler() -> list[str] | None:
    """The compiler command: ``$CC`` (with its arguments), else the first of cc, gcc, clang on PATH."""
    named = shlex.split(os.environ.get("CC", "").strip())
    if named:
        found = shutil.which(named[0]) or (named[0] if os.path.isfile(named[0]) else None)
        return [found, *named[1:]] if found else None
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name)
        if found:
            return [found]
    return None


def _flags() -> list[str]:
    flags = list(BASE_FLAGS)
    machine = platform.machine().lower()
    cpu = _cpu_flags()
    if machine in ("x86_64", "amd64") and "avx2" in cpu:
        # wider vectors, the same IEEE operations (no contraction into FMA: -ffp-contract=off)
        flags += ["-mavx2", *(["-mavx512f"] if "avx512f" in cpu else [])]
    elif machine in ("i386", "i486", "i586", "i686", "x86"):
        flags += ["-msse2", "-mfpmath=sse"]  # no x87 excess precision
    return flags


@functools.cache
def _cpu_info() -> dict[str, str]:
    """/proc/cpuinfo's first processor, read once (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return {}
    info: dict[str, str] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        info.setdefault(name.strip(), value.strip())
    return info


def _cpu_flags() -> set[str]:
    return set(_cpu_info().get("flags", "").split())


def _cpu_key() -> str:
    """What a build depends on beyond source and flags: the OS, the machine and its CPU model."""
    model = _cpu_info().get("model name") or platform.processor()
    return f"{sys.platform}|{platform.machine()}|{model}"


def _suffix() -> str:
    return {"darwin": ".dylib", "win32": ".dll"}.get(sys.platform, ".so")


def _cache_dir() -> Path | None:
    """The first candidate directory that is ours, writable and writable by no one else (created 0700)."""
    explicit = os.environ.get("RELULINT_CACHE_DIR")
    uid = _uid()
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        try:
            candidates.append(Path(xdg) / "relulint" if xdg else Path.home() / ".cache" / "relulint")
        except RuntimeError:  # no home directory (HOME unset, no passwd entry)
            pass
        candidates.append(Path(tempfile.gettempdir()) / f"relulint-{'user' if uid is None else uid}")
    for path in candidates:
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = path.stat()
        except OSError:
            continue
        if uid is not None and info.st_uid != uid:
            continue  # never load code from a directory someone else owns
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or not os.access(path, os.W_OK):
            continue  # or one others could plant a library in
        return path
    return None


def _build(compiler: list[str], flags: list[str], library: Path) -> str:
    """Compile into a temporary file beside ``library`` and move it into place (atomic: concurrent runs
    never load a half-written file). Returns why it failed ('' on success)."""
    if sys.platform == "darwin" and compiler[0].startswith("/usr/bin/") and not _xcode_tools():
        return "no C compiler (the Xcode command line tools are not installed)"
    try:
        fd, tmp = tempfile.mkstemp(prefix=library.stem + ".", suffix=".tmp", dir=library.parent)
        os.close(fd)
    except OSError as exc:
        return f"cannot write the kernel into {library.parent} ({exc.strerror})"
    try:
        done = subprocess.run(
            [*compiler, *flags, "-o", tmp, str(SOURCE), "-lm"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
        name = Path(compiler[0]).name
        if done.returncode != 0:
            return f"building the kernel failed ({name}: {_first_error(done.stderr)})"
        if os.path.getsize(tmp) == 0:
            return f"building the kernel failed ({name} wrote nothing)"
        os.chmod(tmp, 0o700)
        os.replace(tmp, library)
        return ""
    except (OSError, subprocess.SubprocessError) as exc:
        return f"building the kernel failed ({exc})"
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _first_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if "error" in line.lower():
            return line
    return lines[-1] if lines else "no message"


def _xcode_tools() -> bool:
    """macOS: whether the command line tools are there (``/usr/bin/cc`` without them opens an install
    dialog instead of compiling)."""
    try:
        return (
            subprocess.run(["xcode-select", "-p"], capture_output=True, timeout=10, check=False).returncode
            == 0
        )
    except (OSError, subprocess.SubprocessError):
        return False
