"""`relulint probe` report: the Monte-Carlo estimate of every chain beside the theory's bounds."""

from __future__ import annotations

import json
from typing import Any

from relulint.facts import Chain, ModelFacts, ProbeResult, Report
from relulint.options import Options


def beyond_bound(probe: ProbeResult, p_upper: float) -> bool:
    """The estimate exceeds the `collapse` Thm 8 upper bound by more than its 95 % interval."""
    return probe.ci[0] > p_upper


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
            record["note"] = bound_note(chain)
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
    return f"{100 * value:.2f} %"


def _probe_line(label: str, probe: dict[str, Any]) -> str:
    lo, hi = probe["ci"]
    near = probe["near_constant"] / probe["samples"] if probe["samples"] else 0.0
    return (
        f"  {label:<9} P(born dead) = {_pct(probe['estimate'])}  [95 % CI {_pct(lo)} – {_pct(hi)}]"
        f"  ({probe['born_dead']}/{probe['samples']}; near-constant {_pct(near)};"
        f" {probe['method'] or 'batched'}, {probe['device']}, {probe['seconds']:.2f} s)"
    )


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
            if "probe" in chain:
                lines.append(_probe_line("recorded", chain["probe"]))
                fractions = chain["probe"].get("dead_unit_fraction") or []
                if fractions:
                    lines.append("  dead units per layer: " + " ".join(f"{f:.2f}" for f in fractions))
                if chain.get("note"):
                    lines.append(f"  warning: estimate above the bound beyond its interval; {chain['note']}")
            if "compare" in chain:
                lines.append(_probe_line("rai", chain["compare"]))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
