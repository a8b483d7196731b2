"""One summary per ReLU chain, shared by every report format (text, json, sarif).

`chain_summary(chain, p)` gathers the theory's numbers for a chain so that the renderers print the same
values: the `collapse` Thm 8 upper bound, the `dying` Thm 3.3 lower bound (uniform width, d_in = 1 only),
the deepest safe chain at this width (`collapse` Eq. 5), the narrowest safe width at this depth, the
probe's estimate when one ran, and a one-word verdict.

Counting convention: `depth` is the number of ReLU (hidden) layers (`collapse` Thm 8 / Eq. 5).
"""

from __future__ import annotations

from typing import Any

from relulint.facts import Chain, ProbeResult, Report, Severity

#: Verdicts, from best to worst.
VERDICT_NO_RELU = "no relu"  # the chain has no ReLU layer: nothing can die
VERDICT_PROTECTED = "protected"  # a normalization keeps a live unit before every ReLU (`collapse` §5.2)
VERDICT_OK = "ok"  # born-dead probability at most p
VERDICT_AT_RISK = "at risk"  # above p
VERDICT_LIKELY_DEAD = "likely dead"  # at least one half
VERDICTS = (VERDICT_NO_RELU, VERDICT_PROTECTED, VERDICT_OK, VERDICT_AT_RISK, VERDICT_LIKELY_DEAD)

LIKELY_DEAD = 0.5
PROTECTING_NORMS = frozenset({"batchnorm", "layernorm", "groupnorm", "instancenorm"})


def unprotected_widths(chain: Chain) -> tuple[int, ...]:
    """Widths of the ReLU layers not preceded by a normalization that keeps one unit alive.

    BatchNorm in training mode, LayerNorm and GroupNorm centre the pre-activations, so some unit stays
    positive for every input (`collapse` §5.2); weight normalization and dropout do not protect.
    """
    widths = []
    for layer in chain.hidden:
        protected = layer.norm in PROTECTING_NORMS and (layer.norm != "batchnorm" or layer.norm_training)
        if not protected:
            widths.append(layer.out_features)
    return tuple(widths)


def p_lower_bound(chain: Chain) -> float | None:
    """`dying` Thm 3.3 lower bound, when it applies: uniform width and a one-dimensional input."""
    widths = chain.hidden_widths
    if not widths or len(set(widths)) != 1 or chain.input_dim != 1:
        return None
    try:
        from relulint.theory.dying import p_born_dead_lower_din1
    except ImportError:  # the `dying` module is optional for the report: no lower bound without it
        return None
    try:
        return float(p_born_dead_lower_din1(len(widths), widths[0]))
    except ValueError:  # outside the theorem's range (e.g. a single ReLU layer)
        return None


def verdict(chain: Chain, risk: float, p: float) -> str:
    """The chain's verdict for a born-dead probability `risk` against the threshold `p`."""
    if chain.depth == 0:
        return VERDICT_NO_RELU
    if not unprotected_widths(chain):
        return VERDICT_PROTECTED
    if risk >= LIKELY_DEAD:
        return VERDICT_LIKELY_DEAD
    if risk > p:
        return VERDICT_AT_RISK
    return VERDICT_OK


def chain_summary(chain: Chain, p: float, probe: ProbeResult | None = None) -> dict[str, Any]:
    """The theory's numbers for one chain (json-ready; every count is ReLU layers).

    Keys: `index`, `shape`, `hidden_widths`, `depth`, `input_dim`, `output_dim`, `end`, `path`, `line`,
    `p_upper` (`collapse` Thm 8 over all hidden widths), `p_upper_unprotected` (the same over layers not
    protected by a normalization, what RL101 acts on), `p_lower` (`dying` Thm 3.3; null unless the width is
    uniform and d_in = 1), `p_probe` (the Monte-Carlo estimate; null without a probe), `safe_depth` (most
    ReLU layers at this chain's narrowest width with P ≤ p, `collapse` Eq. 5; 10**18 means unbounded),
    `min_width` (narrowest uniform width with P ≤ p at this depth), `verdict` (one of `VERDICTS`).
    """
    from relulint.theory.collapse import max_safe_depth, min_safe_width, p_born_dead_upper

    widths = chain.hidden_widths
    unprotected = unprotected_widths(chain)
    p_upper = p_born_dead_upper(widths)
    p_acting = p_born_dead_upper(unprotected)
    p_probe = probe.estimate if probe is not None and probe.samples else None
    risk = p_probe if p_probe is not None else p_acting
    return {
        "index": chain.index,
        "shape": chain.shape,
        "hidden_widths": list(widths),
        "depth": chain.depth,
        "input_dim": chain.input_dim,
        "output_dim": chain.output_dim,
        "end": chain.end,
        "path": chain.location.path if chain.location else None,
        "line": chain.location.line if chain.location else None,
        "p_upper": p_upper,
        "p_upper_unprotected": p_acting,
        "p_lower": p_lower_bound(chain),
        "p_probe": p_probe,
        "safe_depth": max_safe_depth(min(widths), p) if widths else None,
        "min_width": min_safe_width(chain.depth, p) if widths else None,
        "verdict": verdict(chain, risk, p),
    }


def report_counts(report: Report) -> dict[str, int]:
    """Counts for the closing line and the json `summary`: findings by severity, models, skipped, fixed."""
    findings = report.findings
    return {
        "findings": len(findings),
        "errors": sum(f.severity is Severity.ERROR for f in findings),
        "warnings": sum(f.severity is Severity.WARNING for f in findings),
        "info": sum(f.severity is Severity.INFO for f in findings),
        "models": len(report.targets),
        "skipped": len(report.skipped),
        "fixed": len(report.fixed),
    }


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def summary_line(report: Report) -> str:
    """`N findings (x errors, y warnings, z info) in M models`."""
    c = report_counts(report)
    return (
        f"{_plural(c['findings'], 'finding')} ({_plural(c['errors'], 'error')}, "
        f"{_plural(c['warnings'], 'warning')}, {c['info']} info) in {_plural(c['models'], 'model')}"
    )
