"""`relulint plot` and `check --plot`: the safe-region map of `collapse` Fig. 6B.

The numbers are checked against independent computations (exact rationals for Thm 8 and Eq. 5, the
values the paper states in §4), the markers are read back from the figure object at their data
coordinates, and the files are checked by their headers (PNG size, SVG parsed, PDF magic)."""

from __future__ import annotations

import importlib.util
import json
import math
import struct
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
import zlib
from fractions import Fraction
from pathlib import Path

import pytest
from typer.testing import CliRunner

import relulint
from relulint.cli import app
from relulint.plot import INSTALL, bound_grid, chain_markers, safe_depths

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def exact_bound(width: int, depth: int) -> Fraction:
    """`collapse` Thm 8 for `depth` ReLU layers of width `width`, as an exact rational."""
    return 1 - (1 - Fraction(1, 2**width)) ** depth


def exact_safe_depth(width: int, p: Fraction) -> int:
    """Eq. 5 checked exactly: from the real-valued ``ln(1 − p) / ln(1 − 2^−N)``, the depth moved until
    the exact bound is ≤ p at it and > p one layer deeper (rational arithmetic, no rounding)."""
    depth = max(0, math.floor(math.log1p(-float(p)) / math.log1p(-(2.0**-width))) - 2)
    while exact_bound(width, depth + 1) <= p:
        depth += 1
    assert exact_bound(width, depth) <= p < exact_bound(width, depth + 1)
    return depth


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def png_text(data: bytes) -> dict[str, str]:
    """The tEXt / zTXt / iTXt chunks of a PNG (read with the standard library only)."""
    chunks, at = {}, 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        if kind == b"tEXt":
            key, value = body.split(b"\0", 1)
            chunks[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"zTXt":
            key, rest = body.split(b"\0", 1)
            chunks[key.decode("latin-1")] = zlib.decompress(rest[1:]).decode("latin-1")
        elif kind == b"iTXt":
            key, rest = body.split(b"\0", 1)
            compressed, _method, rest = rest[0], rest[1], rest[2:]
            _language, _translated, text = rest.split(b"\0", 2)
            chunks[key.decode("latin-1")] = (zlib.decompress(text) if compressed else text).decode("utf-8")
        at += 12 + length
    return chunks


# ------------------------------------------------------------------------------------------ the data


def test_shading_is_thm8_exactly() -> None:
    widths, depths = list(range(1, 13)), list(range(1, 31))
    grid = bound_grid(widths, depths)
    for i, depth in enumerate(depths):
        for j, width in enumerate(widths):
            assert grid[i, j] == pytest.approx(float(exact_bound(width, depth)), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("p", [Fraction(1, 100), Fraction(1, 10)])
def test_eq5_line_is_the_largest_safe_depth(p: Fraction) -> None:
    widths = list(range(1, 17))
    assert safe_depths(widths, float(p)) == [exact_safe_depth(n, p) for n in widths]


def test_eq5_line_matches_the_papers_reading_of_fig6b() -> None:
    """`collapse` §4: "a 10-layer NN of width 10 has a probability of only 1% to collapse whereas a
    10-layer NN of width 5 has a probability greater than 10%"."""
    assert safe_depths([10], 0.01) == [10]  # width 10: 10 ReLU layers fit under 1 %
    assert safe_depths([5], 0.10)[0] < 10  # width 5: 10 layers are beyond 10 %
    assert float(exact_bound(3, 10)) > 0.6  # "for width of three the probability is greater than 60%"


MIXED = """
    import torch
    from torch import nn


    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(
                nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 1)
            )

        def forward(self, x):
            return self.body(x)


    class Normed(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(
                nn.Linear(1, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 3), nn.BatchNorm1d(3), nn.ReLU(),
                nn.Linear(3, 1),
            )

        def forward(self, x):
            return self.body(x)
"""


@pytest.fixture(scope="module")
def pinn_report():
    return relulint.check(str(REPO / "examples" / "pinn.py"))


def test_markers_sit_at_narrowest_width_and_relu_depth(tmp_path: Path) -> None:
    path = tmp_path / "mixed.py"
    path.write_text(textwrap.dedent(MIXED), encoding="utf-8")
    report = relulint.check(str(path))
    markers = {m.model: m for m in chain_markers(report)}
    assert (markers["Mixed"].width, markers["Mixed"].depth) == (4, 3)  # widths 8-4-6: the narrowest
    assert not markers["Mixed"].protected
    expected = 1 - (1 - Fraction(1, 2**8)) * (1 - Fraction(1, 2**4)) * (1 - Fraction(1, 2**6))
    assert markers["Mixed"].p_upper == pytest.approx(float(expected), rel=1e-12)
    assert markers["Normed"].protected and markers["Normed"].p_upper == 0.0  # BatchNorm before each ReLU


# ------------------------------------------------------------------------------------------ the figure

# the plot extra; the test extra installs it, so CI runs every test below
needs_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="no matplotlib")


def test_without_matplotlib_plot_is_exit_2_with_the_install_command(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    for args in (["plot", "examples/pinn.py", "-o", str(tmp_path / "m.png")], ["check", "--plot", "m.png"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "matplotlib" in result.stderr and INSTALL in result.stderr
        assert "Traceback" not in result.output


@needs_matplotlib
def test_figure_data_read_back(pinn_report) -> None:
    from relulint.plot import draw, figure_data

    figure = draw(pinn_report, p=0.01, title="examples/pinn.py")
    data = figure_data(figure)
    assert data["size"] == [640, 480]
    assert data["markers"] == {"chain:DeepNarrowPINN:0": [5.0, 16.0], "chain:WidePINN:0": [16.0, 16.0]}
    line = data["lines"]["eq5:p"]
    widths = [int(x) for x, _ in line]
    assert widths == list(range(1, 19))  # 12 shown at least; room for the width-16 marker
    # the top edge of the deepest safe cell at each width (capped at the top of the axes)
    assert [y for _, y in line] == [min(exact_safe_depth(n, Fraction(1, 100)) + 0.5, 31) for n in widths]
    ten = data["lines"]["eq5:10p"]
    assert [y for _, y in ten] == [min(exact_safe_depth(n, Fraction(1, 10)) + 0.5, 31) for n in widths]
    (axes, _colorbar) = figure.axes
    assert "examples/pinn.py" in axes.get_title() and "1 %" in axes.get_title()
    (mesh,) = [c for c in axes.collections if c.get_gid() == "bound"]
    shading = mesh.get_array().reshape(30, 18)
    assert shading[15, 4] == pytest.approx(float(exact_bound(5, 16)), rel=1e-12)  # the cell under the marker
    labels = [t.get_text() for t in axes.texts]
    assert any(text.startswith("DeepNarrowPINN #0: ≤ 40 %") for text in labels), labels


@needs_matplotlib
def test_rai_panel_bars_are_the_probe_estimates(tmp_path: Path) -> None:
    from relulint.plot import draw

    report = relulint.check(
        str(REPO / "examples" / "pinn.py") + ":DeepNarrowPINN", probe=True, compare="rai", samples=300
    )
    facts = report.targets[0].facts
    figure = draw(report)
    assert [round(v) for v in figure.get_size_inches() * figure.dpi] == [1100, 480]
    heights: dict[str, list[float]] = {}
    for patch in figure.axes[1].patches:
        heights.setdefault(patch.get_gid(), []).append(patch.get_height())
    assert heights["rai:model"] == [facts.probes[0].estimate]
    assert heights["rai:rai"] == [facts.compare_probes[0].estimate]
    (marker,) = chain_markers(report)
    assert "probe" in marker.label and marker.probe_ci == tuple(facts.probes[0].ci)


# -------------------------------------------------------------------------------------- files and CLI


@needs_matplotlib
def test_plot_command_writes_png_svg_pdf(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    png, svg, pdf = tmp_path / "map.png", tmp_path / "map.svg", tmp_path / "map.pdf"
    for path in (png, svg, pdf):
        result = runner.invoke(app, ["plot", "examples/pinn.py", "-o", str(path)])
        assert result.exit_code == 0, result.output
    data = png.read_bytes()
    assert png_size(data) == (640, 480)
    stored = json.loads(png_text(data)["relulint"])
    assert stored["markers"]["chain:DeepNarrowPINN:0"] == [5.0, 16.0]
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    ids = {element.get("id") for element in root.iter()}
    assert {"chain:DeepNarrowPINN:0", "chain:WidePINN:0", "eq5:p", "eq5:10p"} <= ids
    assert pdf.read_bytes()[:5] == b"%PDF-"


@needs_matplotlib
def test_check_plot_draws_the_same_picture(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    out = tmp_path / "check.png"
    result = runner.invoke(app, ["check", "examples/pinn.py", "--plot", str(out), "-f", "json"])
    assert result.exit_code == 1  # DeepNarrowPINN's findings: the plot does not change the exit code
    json.loads(result.stdout)  # stdout holds the report only
    stored = json.loads(png_text(out.read_bytes())["relulint"])
    assert set(stored["markers"]) == {"chain:DeepNarrowPINN:0", "chain:WidePINN:0"}


def test_bad_plot_suffix_is_a_usage_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    result = runner.invoke(app, ["plot", "examples/pinn.py", "-o", str(tmp_path / "map.jpeg")])
    assert result.exit_code == 2 and "hint:" in result.stderr and ".png" in result.stderr


@needs_matplotlib
def test_readme_picture_is_current() -> None:
    """README shows docs/safe_region_pinn.png, drawn by docs/plot_example.py (regenerate it with that)."""
    run = subprocess.run(
        [sys.executable, str(REPO / "docs" / "plot_example.py"), "--check"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert png_size((REPO / "docs" / "safe_region_pinn.png").read_bytes()) == (640, 480)
    assert "](docs/safe_region_pinn.png)" in (REPO / "README.md").read_text(encoding="utf-8")


def test_models_of_one_name_in_two_files_are_told_apart(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "net.py").write_text(textwrap.dedent(MIXED), encoding="utf-8")
    report = relulint.check("a/net.py:Mixed", "b/net.py:Mixed", cwd=tmp_path)
    assert sorted(m.model for m in chain_markers(report)) == ["a/net.py:Mixed", "b/net.py:Mixed"]


@needs_matplotlib
def test_a_wide_model_turns_the_width_axis_logarithmic(tmp_path: Path, monkeypatch) -> None:
    from relulint.plot import LOG_WIDTHS_FROM, draw, figure_data

    monkeypatch.chdir(tmp_path)
    source = textwrap.dedent(MIXED).replace(
        "nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 4)", "nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 64)"
    )
    source = source.replace("nn.Linear(4, 6)", "nn.Linear(64, 96)").replace(
        "nn.Linear(6, 1)", "nn.Linear(96, 1)"
    )
    (tmp_path / "wide.py").write_text(source, encoding="utf-8")
    figure = draw(relulint.check("wide.py:Mixed"))
    assert figure_data(figure)["markers"] == {"chain:Mixed:0": [8.0, 3.0]}  # widths 8-64-96: the narrowest
    narrow = draw(relulint.check("wide.py:Normed"))
    assert narrow.axes[0].get_xscale() == "linear"
    (tmp_path / "wider.py").write_text(
        source.replace(
            "nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 64)", "nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64)"
        ),
        encoding="utf-8",
    )
    wide = draw(relulint.check("wider.py:Mixed"))
    assert figure_data(wide)["markers"] == {"chain:Mixed:0": [64.0, 3.0]}
    assert 64 + 2 >= LOG_WIDTHS_FROM and wide.axes[0].get_xscale() == "log"
