"""Shared test set-up: tests run with a fixed, known environment (no colour, no CI annotations)."""

from __future__ import annotations

import os
import tempfile

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # the probe's C kernel is built into a cache directory: a private one per test session, not ~/.cache
    os.environ.setdefault("RELULINT_CACHE_DIR", tempfile.mkdtemp(prefix="relulint-test-cache-"))


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("PRE_COMMIT", raising=False)
