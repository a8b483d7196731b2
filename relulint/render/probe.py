"""`relulint probe` report: the Monte-Carlo estimate of every chain beside the theory's bounds.

`probe_summary_lines` is the probe's block for any text report (the `check --probe` report uses it too):
the estimate with its Wilson interval, the near-constant fraction, a warning when the count exceeds the
`collapse` Thm 8 bound beyond chance (an exact binomial test), and the probe's notes (CPU fallback, exact shortcuts, assumed
inits, ...).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from relulint.formatting import percent
from relulint.options import Options
from relulint.records.model_facts import Chain, ModelFacts, ProbeResult
from relulint.records.report import Report

# `relulint.probe.runner._bound_notes` starts its warning so; the report shows it as the warning, not as a note
BOUND_NOTE_PREFIX = "estimate above the collapse Thm 8 bound"


def beyond_bound(probe: ProbeResult | Mapping[str, Any], p_upper: float) -> bool:
    """The count exceeds the `collapse` Thm 8 upper bound beyond chance: the exact one-sided binomial test
    (`relulint.theory.binomial.exceeds_bound`; a Wilson interval is too narrow for the few hits of a rare
    event)."""
    from relulint.theory.binomial import exceeds_bound

    record = probe.as_dict() if isinstance(probe, ProbeResult) else probe
    return exceeds_bound(int(record["born_dead"]), int(record["samples"]), p_upper)


def bound_note(chain: Chain) -> str:
    """Why a measured probability can exceed the Thm 8 bound: the theorem's hypotheses that fail here."""
    reasons = []
    if chain.has_bias:
        reasons.append("the biases are not zero")
    laws = {layer.weight_init.law for layer in chain.hidden if layer.weight_init is not None}
    if laws & {"orthogonal", "rai", "custom", "unknown"} or any(
        layer.weight_init is not None and layer.weight_init.symmetric is False for layer in chain.hidden
    ):
        reasons.append(
            "the weights are not independent symmetric draws (dependent rows or an asymmetric law)"
        )
    if not reasons:
        reasons.append("the probe's inputs D are not a single fixed input")
    return "the theory does not cover this case: " + "; ".join(reasons)


def probe_summary_lines(
    probe: ProbeResult | Mapping[str, Any],
    bound: float | None = None,
    *,
    label: str = "probe",
    chain: Chain | None = None,
    reason: str | None = None,
) -> list[str]:
    """The probe's lines for a text report, unindented: the estimate, its 95 % Wilson interval, the samples
    (and how many were requested, where the time limit stopped the probe short), the near-constant fraction,
    the method, device and time; then ``warning: ...`` when the count is above ``bound`` (the `collapse` Thm 8
    bound) beyond chance, then ``note: ...`` per note.

    ``probe``: a `ProbeResult` or its ``as_dict()``. The warning gives the probe's own reasons when it has
    them, else ``reason``, else ``chain``'s (`bound_note`).
    """
    record = probe.as_dict() if isinstance(probe, ProbeResult) else probe
    lo, hi = record["ci"]
    samples = record["samples"]
    near = record["near_constant"] / samples if samples else 0.0
    estimate = record.get("estimate", record["born_dead"] / samples if samples else float("nan"))
    requested = int(record.get("samples_requested") or samples)
    reached = f" of {requested} requested" if requested > samples else ""
    lines = [
        f"{label}: P(born dead) = {_pct(estimate)}  [95 % CI {_pct(lo)} – {_pct(hi)}]"
        f"  ({record['born_dead']}/{samples}{reached}; near-constant {_pct(near)};"
        f" {record.get('method') or 'batched'}, {record['device']}, {record['seconds']:.2f} s)"
    ]
    notes = [str(note) for note in record.get("notes") or ()]
    warning = next((note for note in notes if note.startswith(BOUND_NOTE_PREFIX)), None)
    if warning is None and bound is not None and beyond_bound(record, bound):
        why = reason or (bound_note(chain) if chain is not None else "the theory does not cover this case")
        warning = f"{BOUND_NOTE_PREFIX} {_pct(bound)} beyond chance (exact binomial test); {why}"
    if warning is not None:
        lines.append(f"warning: {warning}")
    lines.extend(f"note: {note}" for note in notes if note != warning)
    return lines


def chain_record(facts: ModelFacts, chain: Chain) -> dict[str, Any]:
    from relulint.theory.collapse import p_born_dead_upper

    p_upper = p_born_dead_upper(chain.hidden_widths)
    record: dict[str, Any] = {
        "index": chain.index,
        "shape": chain.shape,
        "hidden_widths": list(chain.hidden_widths),
        "depth": chain.depth,
        "p_upper": p_upper,
        "line": chain.location.line if chain.location else None,
    }
    probe = facts.probes.get(chain.index)
    if probe is not None:
        record["probe"] = probe.as_dict()
        record["beyond_bound"] = beyond_bound(probe, p_upper)
        if record["beyond_bound"]:
            own = next((n for n in probe.notes if n.startswith(BOUND_NOTE_PREFIX)), None)
            record["note"] = own or bound_note(chain)
    compare = facts.compare_probes.get(chain.index)
    if compare is not None:
        record["compare"] = compare.as_dict()
    return record


def render_probe(report: Report, fmt: str, *, options: Options, color: bool = False) -> str:
    documents = [
        {
            "target": t.target,
            "name": t.name,
            "path": t.path,
            "chains": [chain_record(t.facts, c) for c in t.facts.chains] if t.facts else [],
        }
        for t in report.targets
    ]
    if fmt == "json":
        return json.dumps({"version": 1, "relulint": report.version, "targets": documents}, indent=2)
    return render_text(documents, color=color)


def _pct(value: float) -> str:
    return percent(value)


def render_text(documents: list[dict[str, Any]], *, color: bool) -> str:
    lines: list[str] = []
    for doc in documents:
        lines.append(f"{doc['path']}:{doc['name']}")
        if not doc["chains"]:
            lines.append("  no ReLU chain found")
        for chain in doc["chains"]:
            lines.append(
                f" chain {chain['index']}: {chain['shape']}, {chain['depth']} ReLU layers"
                f" (line {chain['line']}); collapse Thm 8 bound {_pct(chain['p_upper'])}"
            )
            for key, label in (("probe", "recorded"), ("compare", "rai")):
                if key not in chain:
                    continue
                probe = chain[key]
                reason = chain.get("note") if key == "probe" else None
                summary = probe_summary_lines(probe, chain["p_upper"], label=label, reason=reason)
                lines.append(f"  {summary[0]}")
                fractions = probe.get("dead_unit_fraction") or []
                if fractions:
                    lines.append("    dead units per layer: " + " ".join(f"{f:.2f}" for f in fractions))
                lines.extend(f"    {line}" for line in summary[1:])
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
