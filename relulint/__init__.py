"""relulint: a linter for PyTorch models that catches deep, narrow ReLU networks born dead.

    >>> import relulint
    >>> report = relulint.check("examples/pinn.py:DeepNarrowPINN")   # or an nn.Module instance
    >>> [f.code for f in report.findings]

The pipeline (`relulint.api`): load → capture → extract → rules → probe → report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from relulint.records.report import Report

__all__ = ["__version__", "check"]


def check(*targets: Any, **options: Any) -> Report:
    """Lint models (target strings like ``"model.py:Net"`` or ``nn.Module`` instances); see `relulint.api.check`."""
    from relulint.api import check as _check

    return _check(*targets, **options)
