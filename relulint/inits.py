"""Initializer recording and fingerprinting (placeholder interface; replaced by the initializer work)."""

from __future__ import annotations

from typing import Any

from relulint.facts import InitEvent


class InitRecorder:
    """Records every initialization applied while a model is built (context manager)."""

    def __enter__(self) -> "InitRecorder":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def events_for(self, module: Any) -> tuple[InitEvent, ...]:
        return ()
