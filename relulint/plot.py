"""`relulint plot`: the safe-region map of `collapse` Fig. 6B / §4, with the model's chains on it.

    relulint plot examples/pinn.py -o pinn.png          # .png, .svg or .pdf
    relulint plot model.py:Net --probe --compare rai -o net.svg
    relulint check . --plot map.png                      # the same picture as part of a check

The map (left panel): ReLU depth L (hidden ReLU layers, the count of `collapse` Thm 8 and Eq. 5) against
width N, each cell shaded by the Thm 8 bound on the born-dead probability for L ReLU layers of width N,
``1 − (1 − 2^−N)^L`` (log colour scale); the Eq. 5 line of the largest depth whose bound stays ≤ p at
each width (``L ≤ ln(1 − p) / ln(1 − 2^−N)``, solid) and the same for 10·p (dashed): below the solid line
is the safe region. Each chain of the model is a labelled marker at (narrowest hidden width, ReLU depth);
a chain that a normalization or a skip connection protects (no layer of it can kill the network) is
hollow; a probe's estimate and 95 % interval go in the label. A model 48 or more units wide turns the
width axis logarithmic (base 2); with more than 12 chains only those whose bound exceeds p are labelled. With ``--probe --compare rai`` a second
panel shows, per chain, the probe estimate under the model's own init and under RAI (`dying` §4) as bars
with their intervals.

matplotlib is an optional extra (``pip install "relulint[plot]"``), imported only here and only when a
plot is drawn; without it ``relulint plot`` is exit 2 with the install command. Only the object-oriented
API is used (`matplotlib.figure.Figure`, no pyplot): nothing global of the user's matplotlib changes.
Greys and line styles keep the picture readable in black and white.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relulint.errors import UsageError
from relulint.formatting import percent
from relulint.options import Options
from relulint.records.report import Report

INSTALL = 'pip install "relulint[plot]"'
PLOT_SUFFIXES = (".png", ".svg", ".pdf")
FIGURE_SIZE = (6.4, 4.8)  # inches: 640 × 480 px at DPI, for a README or a PR comment
COMPARE_SIZE = (11.0, 4.8)  # with the RAI panel
DPI = 100
COLOR_FLOOR = 1e-4  # the colour scale's lower end (probabilities below it are white)
MIN_WIDTH_SHOWN, MIN_DEPTH_SHOWN = 12, 30
LOG_WIDTHS_FROM = 48  # a wider model: the width axis turns logarithmic (base 2), narrow widths stay readable
MAX_LABELS = 12  # more chains than this: only those whose bound exceeds p are labelled


# ------------------------------------------------------------------------------------------- checks


def require_matplotlib() -> None:
    """Exit 2 with the install command when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(
            "relulint plot needs matplotlib, which is not installed", hint=f"install the extra: {INSTALL}"
        ) from None


def check_plot_path(path: Path) -> None:
    """A plot file must end in .png, .svg or .pdf, and matplotlib must be importable."""
    if Path(path).suffix.lower() not in PLOT_SUFFIXES:
        raise UsageError(
            f"cannot tell the plot format of {str(path)!r}",
            hint=f"name the file with one of {', '.join(PLOT_SUFFIXES)}: -o map.png",
        )
    require_matplotlib()


# ------------------------------------------------------------------------------------------ the data


@dataclass(frozen=True)
class Marker:
    """One chain on the map: where it sits and what its label says."""

    model: str
    chain: int
    width: int  # narrowest hidden width
    depth: int  # ReLU layers
    p_upper: float  # Thm 8 over the layers that can kill the network (0 for a protected chain)
    protected: bool
    probe: float | None = None
    probe_ci: tuple[float, float] | None = None
    rai: float | None = None  # with --compare rai
    rai_ci: tuple[float, float] | None = None

    @property
    def label(self) -> str:
        text = f"{self.model} #{self.chain}: " + (
            "protected" if self.protected else f"≤ {percent(self.p_upper)}"
        )
        if self.probe is not None and self.probe_ci is not None:
            low, high = self.probe_ci
            text += f"\nprobe {percent(self.probe)} [{percent(low)}, {percent(high)}]"
        return text


def chain_markers(report: Report) -> list[Marker]:
    """A marker per chain of every model in the report, at (narrowest hidden width, ReLU depth)."""
    from relulint.chain_facts import chain_bound

    markers = []
    paths: dict[str, set[str]] = {}
    for target in report.targets:
        paths.setdefault(target.name, set()).add(target.path)
    for target in report.targets:
        facts = target.facts
        if facts is None:
            continue
        # two models of one name in different files (a directory run): name them by file too
        model = target.name if len(paths[target.name]) == 1 else f"{target.path}:{target.name}"
        for chain in facts.chains:
            if not chain.hidden_widths:
                continue
            probe = facts.probes.get(chain.index)
            rai = facts.compare_probes.get(chain.index)
            bound = chain_bound(chain)
            markers.append(
                Marker(
                    model=model,
                    chain=chain.index,
                    width=min(chain.hidden_widths),
                    depth=chain.depth,
                    p_upper=bound,
                    protected=bound == 0.0,
                    probe=probe.estimate if probe is not None and probe.samples else None,
                    probe_ci=(probe.ci[0], probe.ci[1]) if probe is not None and probe.samples else None,
                    rai=rai.estimate if rai is not None and rai.samples else None,
                    rai_ci=(rai.ci[0], rai.ci[1]) if rai is not None and rai.samples else None,
                )
            )
    return markers


def bound_grid(widths: Sequence[int] | Any, depths: Sequence[int] | Any) -> Any:
    """``P[i, j]`` = `collapse` Thm 8 for ``depths[i]`` ReLU layers of width ``widths[j]``:
    ``1 − (1 − 2^−N)^L`` = ``−expm1(L · log1p(−2^−N))`` (the arithmetic of `p_born_dead_upper`)."""
    import numpy as np

    n = np.asarray(widths, dtype=float)[None, :]
    depth = np.asarray(depths, dtype=float)[:, None]
    return -np.expm1(depth * np.log1p(-np.exp2(-n)))


def safe_depths(widths: Sequence[int] | Any, p: float) -> list[int]:
    """`collapse` Eq. 5 at each width: the most ReLU layers whose Thm 8 bound stays ≤ p."""
    from relulint.theory.collapse import max_safe_depth

    return [max_safe_depth(int(n), p) for n in widths]


def axis_ranges(markers: Sequence[Marker]) -> tuple[int, int]:
    """(largest width, largest depth) shown: room for every marker, at least 12 × 30."""
    width = max([MIN_WIDTH_SHOWN, *(m.width + 2 for m in markers)])
    depth = max([MIN_DEPTH_SHOWN, *(math.ceil(m.depth * 1.25) for m in markers)])
    return width, depth


# ------------------------------------------------------------------------------------------ drawing


def draw(report: Report, *, p: float = 0.01, title: str = "") -> Any:
    """The figure (`matplotlib.figure.Figure`): the map, and the RAI panel when a comparison ran.

    Artists carry ids (``gid``) a test can read back: ``chain:MODEL:INDEX`` for each marker (its offsets
    are the data coordinates), ``eq5:p`` and ``eq5:10p`` for the two lines, ``bound`` for the shading,
    ``rai:model`` / ``rai:rai`` for the bars.
    """
    require_matplotlib()
    from matplotlib.figure import Figure

    markers = chain_markers(report)
    compared = [m for m in markers if m.rai is not None and m.probe is not None]
    figure = Figure(figsize=COMPARE_SIZE if compared else FIGURE_SIZE, dpi=DPI, layout="constrained")
    if compared:
        axes, bars = figure.subplots(1, 2, gridspec_kw={"width_ratios": (3, 2)})
        draw_rai_panel(bars, compared)
    else:
        axes = figure.subplots()
    draw_map(figure, axes, markers, p)
    head = f"{title}: " if title else ""
    axes.set_title(f"{head}safe region at p = {percent(p)}", fontsize=10)
    return figure


def draw_map(figure: Any, axes: Any, markers: Sequence[Marker], p: float) -> None:
    """The shaded Thm 8 bound, the Eq. 5 lines at p and 10·p, and the chain markers."""
    import numpy as np
    from matplotlib import patheffects
    from matplotlib.colors import LogNorm

    max_width, max_depth = axis_ranges(markers)
    widths = np.arange(1, max_width + 1)
    depths = np.arange(1, max_depth + 1)
    grid = bound_grid(widths, depths)
    cmap = _greys()
    mesh = axes.pcolormesh(
        np.arange(0.5, max_width + 1),
        np.arange(0.5, max_depth + 1),
        grid,
        cmap=cmap,
        norm=LogNorm(vmin=COLOR_FLOOR, vmax=1.0),
        shading="flat",
        rasterized=True,
        gid="bound",
    )
    bar = figure.colorbar(mesh, ax=axes, extend="min", pad=0.02)
    bar.set_label("P(born dead), Thm 8 bound (log scale)", fontsize=8)
    bar.ax.tick_params(labelsize=8)
    halo = [patheffects.withStroke(linewidth=3.5, foreground="white")]
    for level, style, gid in ((p, "-", "eq5:p"), (min(1.0, 10 * p), "--", "eq5:10p")):
        # the top edge of the deepest safe cell: a chain at exactly the safe depth lies below the line
        limits = [min(d + 0.5, max_depth + 1) for d in safe_depths(widths, level)]
        axes.step(
            widths,
            limits,
            where="mid",
            color="black",
            linestyle=style,
            linewidth=1.8,
            path_effects=halo,
            gid=gid,
            label=f"Eq. 5: bound ≤ {percent(level)}",
        )
    for number, marker in enumerate(markers):
        axes.scatter(
            [marker.width],
            [marker.depth],
            s=70,
            marker="o" if not marker.protected else "s",
            facecolors="white" if marker.protected else "#d62728",
            edgecolors="black",
            linewidths=1.2,
            zorder=5,
            gid=f"chain:{marker.model}:{marker.chain}",
            label=("chain (hollow: protected)" if number == 0 else None),
        )
        if len(markers) > MAX_LABELS and marker.p_upper <= p:
            continue  # a crowded map: label the chains at risk only
        middle = math.sqrt(max_width) if max_width >= LOG_WIDTHS_FROM else (max_width + 1) / 2
        right_half = marker.width > middle  # label towards the middle, inside the axes
        axes.annotate(
            marker.label,
            (marker.width, marker.depth),
            xytext=(-7, 5) if right_half else (7, 5),
            textcoords="offset points",
            ha="right" if right_half else "left",
            annotation_clip=False,
            fontsize=7,
            zorder=6,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "black", "linewidth": 0.5},
        )
    axes.text(
        max_width + 0.2,
        1.2,
        "safe region: below the solid line",
        ha="right",
        va="bottom",
        fontsize=7,
        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none"},
    )
    if max_width >= LOG_WIDTHS_FROM:
        axes.set_xscale("log", base=2)
    axes.set_xlim(0.5 if max_width < LOG_WIDTHS_FROM else 0.75, max_width + 0.5)
    axes.set_ylim(0.5, max_depth + 0.5)
    axes.set_xlabel("width N (narrowest hidden layer)", fontsize=9)
    axes.set_ylabel("ReLU depth L (hidden ReLU layers)", fontsize=9)
    axes.tick_params(labelsize=8)
    axes.legend(loc="upper right", fontsize=7, framealpha=0.95)


def _greys() -> Any:
    from matplotlib import colormaps

    return colormaps["Greys"].with_extremes(under="white")


def draw_rai_panel(axes: Any, markers: Sequence[Marker]) -> None:
    """The model's init against RAI (`dying` §4): the probe estimate per chain, with its 95 % interval."""
    import numpy as np

    positions = np.arange(len(markers))
    step = 0.38
    for offset, kind, hatch, face in ((-step / 2, "model", "//", "0.6"), (step / 2, "rai", "", "white")):
        values = [m.probe if kind == "model" else m.rai for m in markers]
        intervals = [m.probe_ci if kind == "model" else m.rai_ci for m in markers]
        pairs = [(v, ci) for v, ci in zip(values, intervals, strict=True) if v is not None and ci is not None]
        assert len(pairs) == len(markers), "the RAI panel is drawn only when every chain has both probes"
        errors = np.array([[v - ci[0] for v, ci in pairs], [ci[1] - v for v, ci in pairs]])
        axes.bar(
            positions + offset,
            values,
            width=step,
            yerr=np.clip(errors, 0.0, None),
            capsize=3,
            color=face,
            edgecolor="black",
            hatch=hatch,
            gid=f"rai:{kind}",
            label="the model's init" if kind == "model" else "RAI (dying §4)",
        )
    axes.set_xticks(positions, [f"{m.model} #{m.chain}" for m in markers], fontsize=7, rotation=20)
    axes.set_ylim(0.0, 1.0)
    axes.set_ylabel("P(born dead), probe (95 % interval)", fontsize=9)
    axes.set_title("init vs RAI", fontsize=10)
    axes.tick_params(labelsize=8)
    axes.legend(fontsize=7)


# ------------------------------------------------------------------------------------------- saving


def figure_data(figure: Any) -> dict[str, Any]:
    """What the picture shows, read back from the figure: size in pixels, the markers' and lines' data
    coordinates (deterministic across matplotlib versions, unlike the bytes of the file)."""
    width, height = (round(v) for v in figure.get_size_inches() * figure.dpi)
    data: dict[str, Any] = {"size": [width, height], "markers": {}, "lines": {}}
    for axes in figure.axes:
        for collection in axes.collections:
            gid = collection.get_gid() or ""
            if gid.startswith("chain:"):
                data["markers"][gid] = [float(v) for v in collection.get_offsets()[0]]
        for line in axes.lines:
            gid = line.get_gid() or ""
            if gid.startswith("eq5:"):
                data["lines"][gid] = [[float(x), float(y)] for x, y in line.get_xydata()]
    return data


def save_figure(figure: Any, path: Path) -> Path:
    """Write the figure; PNGs carry `figure_data` as a text chunk (`relulint`), SVGs have no date and
    stable ids."""
    import matplotlib

    path = Path(path)
    suffix = path.suffix.lower()
    metadata: dict[str, Any]
    if suffix == ".png":
        metadata = {"Software": "relulint", "relulint": json.dumps(figure_data(figure), sort_keys=True)}
    elif suffix == ".svg":
        metadata = {"Date": None, "Creator": "relulint"}
    else:
        metadata = {"Creator": "relulint", "CreationDate": None}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with matplotlib.rc_context({"svg.hashsalt": "relulint", "svg.fonttype": "path"}):
            figure.savefig(path, dpi=DPI, metadata=metadata)
    except OSError as error:
        raise UsageError(
            f"cannot write {path}: {error.strerror}", hint="check the plot's file name"
        ) from None
    return path


def save_report_plot(report: Report, path: Path, *, options: Options | None = None, title: str = "") -> Path:
    """Draw the report's map (`draw`) and write it to `path` (.png, .svg or .pdf)."""
    check_plot_path(path)
    p = (options or Options()).p
    return save_figure(draw(report, p=p, title=title), path)
