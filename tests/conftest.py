"""Shared test set-up: tests run with a fixed, known environment (no colour, no CI annotations)."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_SESSION_CACHE: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    # the probe's C kernel is built into a cache directory: a private one per test session, not ~/.cache
    if "RELULINT_CACHE_DIR" not in os.environ:
        _SESSION_CACHE.append(tempfile.mkdtemp(prefix="relulint-test-cache-"))
        os.environ["RELULINT_CACHE_DIR"] = _SESSION_CACHE[0]


def pytest_unconfigure(config: pytest.Config) -> None:
    for path in _SESSION_CACHE:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("PRE_COMMIT", raising=False)
