"""relulint.formatting.percent: exact simple values read exactly, everything else with two significant digits,
and every place that prints a probability goes through it."""

from __future__ import annotations

import ast
import re
from fractions import Fraction
from pathlib import Path

import pytest

from relulint.formatting import EXACT_DIGITS, exact_simple_percent, layers, percent

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (2.0**-1, "50 %"),
        (2.0**-2, "25 %"),
        (2.0**-3, "12.5 %"),  # printed "12 %" before
        (2.0**-4, "6.25 %"),  # printed "6.2 %" before (round-half-even of 6.25)
        (0.144, "14.4 %"),
        (0.0078, "0.78 %"),
        (0.00125, "0.125 %"),
        (1.0, "100 %"),
        (0.0, "0 %"),
        (0.01, "1 %"),
        (1e-4, "0.01 %"),
    ],
)
def test_exact_simple_values_read_exactly(p: float, text: str) -> None:
    assert percent(p) == text


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (2.0**-5, "3.1 %"),  # 3.125 has four significant digits: not simple
        (5 / 32, "16 %"),  # 15.625
        (1 / 3, "33 %"),
        (0.31681143890437935, "32 %"),
        (0.012345, "1.2 %"),
        (0.00031234, "0.031 %"),
        (0.0001234, "0.012 %"),
        (0.9971, "99.7 %"),
        (0.99999, "> 99.9 %"),
        (5.4321e-18, "5.4e-18"),
        (3.3e-5, "3.3e-05"),
    ],
)
def test_other_values_two_significant_digits(p: float, text: str) -> None:
    assert percent(p) == text


def test_none_and_nan() -> None:
    assert percent(None) == "–"
    assert percent(float("nan")) == "nan"


def test_definition_of_exact_simple_value() -> None:
    """A percentage is simple iff it is a decimal with ≤ 3 significant digits: check against exact rationals."""
    for numerator in range(0, 257):
        p = Fraction(numerator, 256)
        value = 100 * p
        # the exact rational has a short decimal form iff value * 10^k is an integer with ≤ 3 digits for some k
        simple = any(
            (value * 10**k).denominator == 1
            and len(str((value * 10**k).numerator).rstrip("0") or "0") <= EXACT_DIGITS
            for k in range(0, 12)
        )
        assert (exact_simple_percent(float(p)) is not None) == simple, p
        if simple:
            assert Fraction(exact_simple_percent(float(p))) == value


def test_layers() -> None:
    assert layers(1) == "1 ReLU layer"
    assert layers(12) == "12 ReLU layers"


def _percent_formatters(path: Path) -> list[str]:
    """Functions in a file that format a probability as a percentage themselves (`100 * p` and a `%`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            source = ast.get_source_segment(path.read_text(encoding="utf-8"), node) or ""
            if re.search(r"100(\.0)? \*", source) and ' %"' in source:
                found.append(f"{path.relative_to(ROOT)}:{node.name}")
    return found


def test_one_percent_formatter_in_the_code() -> None:
    files = [*ROOT.glob("relulint/**/*.py"), *ROOT.glob("rules/*.py")]
    formatters = [f for path in files if "theory" not in path.parts for f in _percent_formatters(path)]
    assert formatters == ["relulint/formatting.py:percent"]


def test_rules_do_not_import_percent_or_layers_from_another_rule() -> None:
    for path in ROOT.glob("rules/*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("relulint.rules."):
                names = {alias.name for alias in node.names}
                assert not names & {"percent", "layers"}, f"{path.name} imports {names} from {node.module}"
