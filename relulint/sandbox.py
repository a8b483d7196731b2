"""Run the user's code (import, constructor, forward) under control.

`user_code` is a context manager that wraps every call into the user's code:

* **time limit** — a ``SIGALRM`` timer (``signal.setitimer``) raises a private `BaseException` in the main
  thread after ``timeout`` seconds, which becomes a `LoadError` ("timed out after 120 s while importing
  x.py"). Where ``SIGALRM`` does not exist (Windows) or the caller is not the main thread, there is **no**
  limit. A handler only runs between Python bytecodes, so one long call into C (a huge matmul) finishes
  first. The previous handler and any running timer (minus the time spent) are restored afterwards, so
  the contexts nest.
* **stdout stays clean** — ``sys.stdout`` points at ``sys.stderr`` and, when both are real descriptors,
  file descriptor 1 is ``dup2``-ed onto 2 (``os.write(1, …)``, C extensions, subprocesses). Both are
  flushed before and restored after. Where fd 1 or 2 is unusable (closed, a daemon) only the Python-level
  redirection applies.
* **errors** — an exception from the user's code becomes a `UserCodeError` ("ValueError: bad width while
  building Net") whose ``detail`` is the tail of *their* traceback: relulint's own frames and the import
  machinery are dropped, the last `TAIL_FRAMES` frames up to the innermost user frame are kept (with
  their source lines, like Python prints them), and library frames below it are collapsed to the
  innermost one. ``SystemExit`` becomes a `UserCodeError` ("called sys.exit(1) while importing x.py");
  relulint's own errors pass through unchanged, and so does ``KeyboardInterrupt`` (Ctrl-C, or raised by
  the user's code), which carries ``relulint_where`` ("while importing x.py (at x.py:12)") for the
  command line's "interrupted" line.
* **one process** — when the command line has claimed stdout (`relulint.output.claim_stdout`) and the
  user's code forked (``os.fork()`` at import), the child leaves (``os._exit(0)``) as soon as it is back
  in relulint: only the process that started runs the checks and writes the report.

`Origins` classifies a source file as the user's, a library's (stdlib, site-packages, torch) or
relulint's own; `relulint.sites` uses it to find where modules are constructed.
"""

from __future__ import annotations

import copy
import os
import signal
import sys
import sysconfig
import threading
import time
import traceback
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from relulint.errors import LoadError, RelulintError, UserCodeError
from relulint.runcache import cached

__all__ = ["TAIL_FRAMES", "Origins", "display_path", "user_code"]

TAIL_FRAMES = 5  # user frames kept in a traceback tail

USER, LIBRARY, RELULINT, INTERNAL = "user", "library", "relulint", "internal"

_RELULINT_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _internal_files() -> frozenset[str]:
    """The import machinery's own files (``importlib.import_module``, its bootstrap, ``runpy``)."""
    import importlib
    import runpy

    package = os.path.dirname(os.path.abspath(importlib.__file__))
    names = ("__init__.py", "_bootstrap.py", "_bootstrap_external.py", "util.py", "machinery.py")
    return frozenset({os.path.join(package, name) for name in names} | {os.path.abspath(runpy.__file__)})


_LIBRARY_DIRS: dict[bool, tuple[str, ...]] = {}  # torch imported? → prefixes


def _library_dirs() -> tuple[str, ...]:
    """Prefixes of installed code: the standard library, site-packages, and torch wherever it lives."""
    key = "torch" in sys.modules
    if key not in _LIBRARY_DIRS:
        _LIBRARY_DIRS[key] = _find_library_dirs()
    return _LIBRARY_DIRS[key]


def _find_library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    found = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(key)}
    try:
        import site

        found.update(site.getsitepackages())
        found.add(site.getusersitepackages())
    except (AttributeError, ImportError):  # pragma: no cover - virtualenv's old site module
        pass
    torch = sys.modules.get("torch")
    torch_file = getattr(torch, "__file__", None) if torch is not None else None
    if torch_file:
        found.add(os.path.dirname(os.path.abspath(torch_file)))
    return tuple(
        sorted({os.path.abspath(p).rstrip(os.sep) + os.sep for p in found if p}, key=len, reverse=True)
    )


def display_path(filename: str | os.PathLike[str], cwd: str | os.PathLike[str] | None = None) -> str:
    """``filename`` relative to ``cwd`` (default: the working directory) when under it, else absolute;
    forward slashes either way. Memoized for the run (`relulint.runcache`)."""
    try:
        here = os.getcwd()  # a relative `filename` is relative to it, whatever `cwd` is
    except OSError:  # the working directory is gone: no key to cache under
        return _display_path(filename, cwd)
    key = (os.fspath(filename), os.fspath(cwd) if cwd is not None else None, here)
    return cached("display path", key, lambda: _display_path(filename, cwd))


def _display_path(filename: str | os.PathLike[str], cwd: str | os.PathLike[str] | None) -> str:
    absolute = os.path.abspath(filename)
    try:
        relative = os.path.relpath(absolute, cwd if cwd is not None else os.getcwd())
    except ValueError:  # another drive on Windows
        relative = absolute
    shown = absolute if relative == os.pardir or relative.startswith(os.pardir + os.sep) else relative
    return Path(shown).as_posix()


class Origins:
    """Whose code a source file is: `USER`, `LIBRARY`, `RELULINT` or `INTERNAL` (import machinery).

    A file is the user's when it is one of ``user_files``, or — not being installed code (stdlib,
    site-packages, torch) — it lies under one of ``user_roots`` (or anywhere, when no roots are given).
    Results are cached per file name, so asking is cheap.
    """

    def __init__(
        self, user_files: Iterable[str | os.PathLike[str]] = (), user_roots: Iterable[str] = ()
    ) -> None:
        self.user_files = {os.path.normcase(os.path.abspath(f)) for f in user_files}
        self.user_roots = tuple(os.path.abspath(r).rstrip(os.sep) + os.sep for r in user_roots)
        self._internal = _internal_files()
        self._library = _library_dirs()
        self._cache: dict[str, str] = {}

    def kind(self, filename: str) -> str:
        found = self._cache.get(filename)
        if found is None:
            found = self._cache[filename] = self._classify(filename)
        return found

    def _classify(self, filename: str) -> str:
        if filename.startswith("<frozen"):
            return INTERNAL
        if filename.startswith("<"):
            return LIBRARY  # "<string>" (dataclass / namedtuple code), "<stdin>", ...
        absolute = os.path.abspath(filename)
        if absolute.startswith(_RELULINT_DIR):
            return RELULINT
        if absolute in self._internal:
            return INTERNAL
        if os.path.normcase(absolute) in self.user_files:
            return USER
        parts = absolute.split(os.sep)
        if "site-packages" in parts or "dist-packages" in parts or absolute.startswith(self._library):
            return LIBRARY
        if not self.user_roots or absolute.startswith(self.user_roots):
            return USER
        return LIBRARY


# ----------------------------------------------------------------------------------------- time limit


class _TimedOut(BaseException):
    """Raised by the ``SIGALRM`` handler; a `BaseException` so that ``except Exception`` cannot swallow it."""


def _can_alarm() -> bool:
    return (
        hasattr(signal, "SIGALRM")
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )


@contextmanager
def _time_limit(timeout: float | None) -> Iterator[None]:
    """Raise `_TimedOut` in the main thread after ``timeout`` seconds; restore the previous handler/timer."""
    if not timeout or timeout <= 0 or timeout == float("inf") or not _can_alarm():
        yield
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise _TimedOut

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, on_alarm)
    pending = signal.getitimer(signal.ITIMER_REAL)[0]  # an enclosing limit (`api`'s per model) caps this one
    outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, min(timeout, pending or timeout))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
        if outer_delay > 0:  # an enclosing timer was running: give it back what is left of it
            left = max(outer_delay - (time.monotonic() - started), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, outer_interval)


# --------------------------------------------------------------------------------------------- stdout


#: the seed of the user's import and build: relulint's verdicts on a model never depend on the run
BUILD_SEED = 0


_GUARDED: list[bool] = []  # non-empty while `rng_guard` holds the caller's numpy and `random` states


@contextmanager
def rng_guard() -> Iterator[None]:
    """Save the caller's numpy and `random` states once for a whole run, and restore them on the way out
    (also on an error, a timeout or Ctrl-C); nested guards leave it to the outermost.

    Inside, `seeded_global_rng` only seeds these two generators: saving and restoring numpy's state is
    most of its cost, and a run enters it several times per model (import, build, trace; the probe once
    per sample). Between two seeded stages the generators hold what the last stage left, which relulint
    never draws from (every draw of its own comes from a generator of its own).
    """
    if _GUARDED:
        yield
        return
    import random

    import numpy as np

    np_state = np.random.get_state()
    py_state = random.getstate()
    _GUARDED.append(True)
    try:
        yield
    finally:
        _GUARDED.clear()
        np.random.set_state(np_state)
        random.setstate(py_state)


@contextmanager
def seeded_global_rng(seed: int = BUILD_SEED) -> Iterator[None]:
    """Run user code with the global torch / numpy / random RNGs seeded from ``seed``, then restore them.

    Building a model draws its initial weights from torch's global generator; seeding it makes every
    fingerprint, and so every verdict, the same from run to run, and restoring it afterwards leaves the
    caller's RNG state (a notebook's, a test suite's) as it was. Inside `rng_guard` the numpy and
    `random` states are restored by the guard, at the end of the run; torch's (CPU and CUDA) always here.
    """
    import random

    import numpy as np
    import torch

    guarded = bool(_GUARDED)
    if not guarded:
        np_state = np.random.get_state()
        py_state = random.getstate()
    cuda = (
        list(range(torch.cuda.device_count()))
        if torch.cuda.is_available() and torch.cuda.is_initialized()
        else []
    )
    try:
        with torch.random.fork_rng(devices=cuda):
            torch.default_generator.manual_seed(seed)  # CPU only: torch.manual_seed would queue CUDA seeding
            for index in cuda:
                torch.cuda.default_generators[index].manual_seed(seed)
            np.random.seed(seed % (2**32))
            random.seed(seed)
            yield
    finally:
        if not guarded:
            np.random.set_state(np_state)
            random.setstate(py_state)


def _flush(*streams: object) -> None:
    for stream in streams:
        try:
            stream.flush()  # type: ignore[attr-defined]
        except (AttributeError, OSError, ValueError):
            pass


def _dup_fd_1() -> int | None:
    """Point fd 1 at fd 2; return a copy of the old fd 1 to restore, or None when fd 1/2 are unusable."""
    try:
        os.fstat(2)
        saved = os.dup(1)
    except OSError:
        return None
    try:
        os.dup2(2, 1)
    except OSError:
        os.close(saved)
        return None
    return saved


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Everything written to stdout (Python's, or to fd 1) goes to stderr while the block runs.

    Output an extension leaves in the C library's own stdout buffer is written when that library flushes
    it, wherever fd 1 points then (relulint loads no C code to flush it). The console script never lets
    that reach the report: it points fd 1 at stderr for the whole run (`relulint.output.claim_stdout`).
    """
    real_stdout, real_stderr = sys.__stdout__, sys.__stderr__
    current_stdout = sys.stdout
    _flush(current_stdout, real_stdout, sys.stderr, real_stderr)
    saved = _dup_fd_1()
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        _flush(sys.stdout, sys.stderr, real_stdout, real_stderr)
        sys.stdout = current_stdout
        if saved is not None:
            try:
                os.dup2(saved, 1)
            finally:
                os.close(saved)


# --------------------------------------------------------------------------------------------- errors


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _describe(error: BaseException) -> str:
    """``ValueError: bad width`` (first line of the message only)."""
    try:
        text = _first_line(str(error))
    except Exception:  # a broken __str__
        text = ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _relative(frame: traceback.FrameSummary) -> traceback.FrameSummary:
    return traceback.FrameSummary(display_path(frame.filename), frame.lineno, frame.name, line=frame.line)


def _with_relative_filename(error: BaseException) -> BaseException:
    """A copy of a `SyntaxError` naming its file relative to the working directory (others unchanged)."""
    if not isinstance(error, SyntaxError) or not error.filename:
        return error
    try:
        shown = copy.copy(error)
        shown.filename = display_path(error.filename)
    except Exception:  # an exotic subclass that does not copy
        return error
    return shown


def traceback_tail(error: BaseException, origins: Origins, limit: int = TAIL_FRAMES) -> str:
    """The user's part of ``error``'s traceback, formatted like Python prints it.

    relulint's frames and the import machinery are dropped; up to ``limit`` frames ending at the innermost
    user frame are kept; library frames below it are collapsed to the innermost one (where it raised).
    """
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if origins.kind(f.filename) not in (RELULINT, INTERNAL)
    ]
    users = [i for i, f in enumerate(frames) if origins.kind(f.filename) == USER]
    if users:
        last = users[-1]
        head, below = frames[: last + 1][-limit:], frames[last + 1 :]
    else:
        head, below = frames[-limit:], []
    lines = ["Traceback (most recent call last):\n"] if head or below else []
    lines += traceback.StackSummary.from_list([_relative(f) for f in head]).format()
    if len(below) > 1:
        lines.append(f"  ... {len(below) - 1} more frame(s) in library code ...\n")
    if below:
        lines += traceback.StackSummary.from_list([_relative(below[-1])]).format()
    lines += traceback.format_exception_only(type(error), _with_relative_filename(error))
    return "".join(lines).rstrip("\n")


def _hint(error: BaseException, action: str) -> str:
    if isinstance(error, SystemExit):
        return "put script code under `if __name__ == '__main__':` so that importing the file does not run it"
    if isinstance(error, ModuleNotFoundError):
        return (
            f"your code imports {error.name!r}, which is not importable here: install it in the environment "
            "that runs relulint (relulint puts the file's package root and project root on sys.path)"
        )
    return f"this error comes from your code (traceback above), which relulint ran while {action}"


def _user_error(error: BaseException, action: str, origins: Origins) -> UserCodeError:
    if isinstance(error, SystemExit):
        message = f"your code called sys.exit({error.code!r}) while {action}"
    else:
        message = f"{_describe(error)} while {action}"
    return UserCodeError(message, hint=_hint(error, action), detail=traceback_tail(error, origins))


def _innermost_user_frame(error: BaseException, origins: Origins) -> str | None:
    """``x.py:12``: where in the user's files ``error`` was raised (None when not in them)."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if origins.kind(f.filename) == USER]
    if not frames:
        return None
    return f"{display_path(frames[-1].filename)}:{frames[-1].lineno}"


def _mark_interrupt(interrupt: KeyboardInterrupt, action: str, origins: Origins) -> None:
    """Note on a KeyboardInterrupt what relulint was running when it came (the innermost first)."""
    if getattr(interrupt, "relulint_where", None):
        return
    frame = _innermost_user_frame(interrupt, origins)
    where = f"while {action}" + (f" (at {frame})" if frame else "")
    try:
        interrupt.relulint_where = where  # type: ignore[attr-defined]
    except AttributeError:  # pragma: no cover - a KeyboardInterrupt subclass with __slots__
        pass


def _leave_if_forked() -> None:
    """In a process forked by the user's code, back in relulint: leave, so only the parent reports."""
    from relulint.output import report_owner

    owner = report_owner()
    if owner is not None and os.getpid() != owner:
        _flush(sys.stdout, sys.stderr)
        os._exit(0)


def _timeout_error(timeout: float, action: str) -> LoadError:
    return LoadError(
        f"timed out after {timeout:g} s while {action}",
        hint="relulint imports the file and builds the model; move training/downloads under "
        "`if __name__ == '__main__':` or raise --timeout",
    )


@contextmanager
def user_code(
    timeout: float | None, action: str, user_files: Collection[str | os.PathLike[str]] = ()
) -> Iterator[None]:
    """Run the block as the user's code: time limit, stdout → stderr, exceptions → `UserCodeError`.

    ``action`` completes "... while <action>" (``"importing model.py"``, ``"building Net"``);
    ``user_files`` are the user's source files (relative to the working directory or absolute), whose
    frames the traceback tail always keeps. ``timeout`` ≤ 0 or None means no limit.
    """
    try:
        with _stdout_to_stderr(), _time_limit(timeout):
            yield
    except _TimedOut:
        raise _timeout_error(float(timeout or 0), action) from None
    except KeyboardInterrupt as interrupt:
        _mark_interrupt(interrupt, action, Origins(user_files))
        raise
    except RelulintError:
        raise
    except (Exception, SystemExit) as error:
        raise _user_error(error, action, Origins(user_files)) from error
    finally:
        _leave_if_forked()
