"""Errors that end a run with exit code 2: one line saying what went wrong and one line of hint.

relulint never shows its own traceback for a user mistake. `UserCodeError` carries the tail of the
*user's* traceback (their frames only), which the CLI prints under the message.
"""

from __future__ import annotations


class RelulintError(Exception):
    """A usage, configuration or user-code error: exit code 2."""

    def __init__(self, message: str, hint: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.detail = detail  # extra lines (e.g. the user's traceback tail)

    def __str__(self) -> str:
        return self.message


class UsageError(RelulintError):
    """Bad command line, target syntax or option value."""


class ConfigError(RelulintError):
    """Bad `[tool.relulint]` configuration."""


class LoadError(RelulintError):
    """The target could not be found, imported or built."""


class UserCodeError(LoadError):
    """The user's own code raised; `detail` holds the last frames of their traceback."""


class CaptureError(RelulintError):
    """No capture method could read the model's structure."""


class DataError(RelulintError):
    """A data file (targets, probe inputs, baseline) could not be read."""
