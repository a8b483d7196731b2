"""Shared test set-up: tests run with a fixed, known environment (no colour, no CI annotations)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("PRE_COMMIT", raising=False)
