"""The sandbox around the user's code: time limit, stdout kept clean (Python and fd level), their
traceback only, and everything restored afterwards."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from relulint.errors import LoadError, UsageError, UserCodeError
from relulint.sandbox import LIBRARY, RELULINT, USER, Origins, display_path, user_code

needs_alarm = pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no SIGALRM on this platform")


def spin_until_interrupted(bound: int = 10**9) -> None:
    """Busy Python code that only a signal handler's exception ends (``bound`` iterations: the
    test fails rather than hangs when no limit fires, however fast or slow the machine)."""
    for _ in range(bound):
        pass
    raise AssertionError("the time limit never fired")


def test_stdout_goes_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    with user_code(10, "testing", ()):
        print("python print")
        sys.stdout.write("sys.stdout write\n")
        os.write(1, b"fd 1 write\n")
    print("after")
    out, err = capfd.readouterr()
    assert out == "after\n"
    assert "python print" in err and "sys.stdout write" in err and "fd 1 write" in err


def test_stdout_is_restored_after_an_error(capfd: pytest.CaptureFixture[str]) -> None:
    stdout = sys.stdout
    with pytest.raises(UserCodeError):
        with user_code(10, "testing", ()):
            raise ValueError("boom")
    assert sys.stdout is stdout
    os.write(1, b"fd 1 is back\n")
    assert capfd.readouterr().out == "fd 1 is back\n"


def test_python_level_capture_without_usable_fds(capsys: pytest.CaptureFixture[str]) -> None:
    with user_code(10, "testing", ()):
        print("to stderr")
    out, err = capsys.readouterr()
    assert out == "" and "to stderr" in err


@needs_alarm
def test_time_limit_raises_load_error() -> None:
    with pytest.raises(LoadError, match=r"^timed out after 0\.2 s while spinning$") as caught:
        with user_code(0.2, "spinning", ()):
            try:
                spin_until_interrupted()
            except Exception:  # the user's code cannot swallow the timeout
                pass
    assert not isinstance(caught.value, UserCodeError)
    assert "--timeout" in caught.value.hint


@needs_alarm
def test_time_limit_restores_handler_and_outer_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The outer timer gets back what was left of it minus the inner block's time, read from the
    sandbox's clock: a fake one that says the inner block took exactly 4 s (no wall-clock assumption)."""
    import relulint.sandbox

    readings = iter([100.0, 200.0, 204.0])  # the outer block starts, the inner block starts and ends
    fake_time = type("FakeTime", (), {"monotonic": staticmethod(lambda: next(readings))})
    monkeypatch.setattr(relulint.sandbox, "time", fake_time)
    handler = signal.getsignal(signal.SIGALRM)
    with user_code(3000, "outer", ()):
        with pytest.raises(LoadError, match=r"^timed out after 0\.1 s while inner$"):
            with user_code(0.1, "inner", ()):
                spin_until_interrupted()
        remaining, _interval = signal.getitimer(signal.ITIMER_REAL)
        assert 0 < remaining <= 2996  # 3000 s less the 4 s the clock says the inner block took
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is handler


def test_no_limit_outside_the_main_thread() -> None:
    outcome: list[object] = []

    def work() -> None:
        try:
            with user_code(0.05, "in a thread", ()):
                time.sleep(0.2)
            outcome.append("finished")
        except BaseException as error:  # pragma: no cover - the failure this test looks for
            outcome.append(error)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert outcome == ["finished"]


def user_helper(text: str) -> object:
    return json.loads(text)  # the user's line that fails inside the standard library


def test_user_exception_becomes_user_code_error() -> None:
    with pytest.raises(UserCodeError) as caught:
        with user_code(10, "building Net", [__file__]):
            user_helper("{")
    error = caught.value
    assert error.message.startswith("JSONDecodeError: Expecting property name") and error.message.endswith(
        "while building Net"
    )
    lines = error.detail.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert any(
        line.strip() == "return json.loads(text)  # the user's line that fails inside the standard library"
        for line in lines
    )
    assert "in user_helper" in error.detail
    assert "more frame(s) in library code" in error.detail  # json's frames collapsed to the innermost
    assert lines[-1].startswith("json.decoder.JSONDecodeError")
    assert "relulint/sandbox.py" not in error.detail.replace(os.sep, "/")
    assert isinstance(error.__cause__, json.JSONDecodeError)


def test_traceback_tail_keeps_the_last_user_frames() -> None:
    def recurse(n: int) -> None:
        if n == 0:
            raise RuntimeError("deep")
        recurse(n - 1)

    with pytest.raises(UserCodeError) as caught:
        with user_code(10, "recursing", [__file__]):
            recurse(20)
    detail = caught.value.detail
    assert detail.count('File "') == 4 and "[Previous line repeated 1 more time]" in detail  # 5 frames
    assert detail.splitlines()[-2].strip() == 'raise RuntimeError("deep")'
    assert caught.value.message == "RuntimeError: deep while recursing"


def test_multiline_messages_keep_their_first_line() -> None:
    with pytest.raises(UserCodeError, match=r"^ValueError: first while testing$"):
        with user_code(10, "testing", ()):
            raise ValueError("first\nsecond")


def test_system_exit_is_a_user_code_error() -> None:
    with pytest.raises(UserCodeError, match=r"called sys\.exit\(2\) while importing x\.py") as caught:
        with user_code(10, "importing x.py", ()):
            sys.exit(2)
    assert "__main__" in caught.value.hint


def test_keyboard_interrupt_and_relulint_errors_pass_through() -> None:
    with pytest.raises(KeyboardInterrupt):
        with user_code(10, "testing", ()):
            raise KeyboardInterrupt
    own = UsageError("mine", hint="h")
    with pytest.raises(UsageError) as caught:
        with user_code(10, "testing", ()):
            raise own
    assert caught.value is own


def test_origins_classify_files(tmp_path: Path) -> None:
    origins = Origins([tmp_path / "model.py"], [str(tmp_path / "project")])
    assert origins.kind(str(tmp_path / "model.py")) == USER
    assert origins.kind(str(tmp_path / "project" / "helpers.py")) == USER
    assert origins.kind(str(tmp_path / "elsewhere.py")) == LIBRARY
    assert origins.kind(json.__file__) == LIBRARY
    assert origins.kind(pytest.__file__) == LIBRARY
    import relulint.load

    assert origins.kind(relulint.load.__file__) == RELULINT
    assert Origins().kind(str(tmp_path / "elsewhere.py")) == USER  # no roots: anything not installed


def test_display_path(tmp_path: Path) -> None:
    assert display_path(tmp_path / "a" / "b.py", tmp_path) == "a/b.py"
    assert display_path(tmp_path / "b.py", tmp_path / "sub") == (tmp_path / "b.py").as_posix()
