"""How relulint prints numbers for people: one percent formatter for every rule, summary and renderer.

A probability prints so that an *exact simple value* reads exactly and anything else with two significant
digits:

* **Exact simple value**: ``100 p`` (the percentage) equals, up to a relative rounding error of 1e-9, a
  decimal number with at most :data:`EXACT_DIGITS` (= 3) significant digits: ``2^-3`` → ``12.5 %``,
  ``2^-4`` → ``6.25 %``, ``5/32`` → ``15.6 %``? (no: 15.625 has five digits, so ``16 %``), ``0.5`` →
  ``50 %``, ``1`` → ``100 %``, ``0`` → ``0 %``, ``0.0078`` → ``0.78 %``.  Such a value is printed with
  exactly its digits (no trailing zeros).  ``2^-5 = 3.125 %`` has four significant digits and prints as
  ``3.1 %``: quote it as ``2^−5`` where the exact value matters.
* **Anything else** from 0.01 % (``p >= 1e-4``) up: two significant digits (``40 %``, ``1.2 %``,
  ``0.031 %``), except between 99.5 % and 100 %, where two digits would read ``100 %``: one decimal
  (``99.7 %``), and ``> 99.9 %`` for a value that would still round to ``100.0 %``.
* **Below 0.01 %** (``p < 1e-4``): the probability itself in scientific notation with two significant
  digits (``5.4e-18``), never a long run of zeros.
* ``None`` (a value that does not apply) prints as ``–``.

The same rules serve every place a probability is shown (rule messages, the chain table, the probe report),
so one number reads the same everywhere.
"""

from __future__ import annotations

import math
from decimal import Decimal

__all__ = ["EXACT_DIGITS", "exact_simple_percent", "layers", "percent"]

#: The most significant digits an exactly printed percentage may have (12.5 %, 6.25 %, 0.125 %).
EXACT_DIGITS = 3

_RELATIVE = 1e-9  # how close 100 p must be to its short decimal form (binary floating point rounding)
_SMALL = 1e-4  # below this a probability prints in scientific notation (p, not a percentage)


def exact_simple_percent(p: float) -> str | None:
    """The percentage ``100 p`` as a short exact decimal (≤ :data:`EXACT_DIGITS` significant digits), or None.

    ``0.125`` → ``"12.5"``, ``0.0625`` → ``"6.25"``, ``1.0`` → ``"100"``, ``0.0`` → ``"0"``; ``1/3`` → None;
    ``0.03125`` → None (3.125 has four significant digits).
    """
    if not math.isfinite(p):
        return None
    value = 100.0 * p
    if value == 0.0:
        return "0"
    short = float(f"{value:.{EXACT_DIGITS}g}")  # value rounded to EXACT_DIGITS significant digits
    if abs(short - value) > _RELATIVE * abs(value):
        return None
    text = format(Decimal(repr(short)).normalize(), "f")  # 12.5, 6.25, 100 (no exponent, no trailing 0)
    return text


def percent(p: float | None) -> str:
    """A probability for people: ``12.5 %``, ``6.25 %``, ``40 %``, ``1.2 %``, ``99.7 %``, ``5.4e-18``, ``–``.

    The rules are in the module docstring: exact simple values (≤ 3 significant digits) read exactly, any
    other value with two significant digits, below 1e-4 the probability in scientific notation.
    """
    if p is None:
        return "–"
    p = float(p)
    if math.isnan(p):
        return "nan"
    exact = exact_simple_percent(p)
    if exact is not None and (p >= _SMALL or p == 0.0 or p < 0.0):
        return f"{exact} %"
    if abs(p) < _SMALL:
        return f"{p:.1e}"
    value = 100.0 * p
    if value >= 99.5:
        shown = f"{value:.1f}"
        if shown == "100.0" and p < 1.0:
            return "> 99.9 %"
        return f"{shown} %"
    return f"{float(f'{value:.2g}'):g} %"


def layers(count: int) -> str:
    """``1 ReLU layer``, ``12 ReLU layers`` (relulint counts ReLU layers, `collapse` Thm 8)."""
    return f"{count} ReLU layer{'' if count == 1 else 's'}"
