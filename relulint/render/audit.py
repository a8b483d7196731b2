"""The audit section of a report (`relulint audit`): its json record and its text lines.

The findings (RL501-RL503) go through the same renderers and sinks as `check`'s; this module adds what
only an audit has — per chain and hidden layer the dead units, the output against the targets — to the
json document (`"audit"` in each target, docs/json-format.md) and to the text panel.
"""

from __future__ import annotations

from typing import Any

from relulint.audit.records import AuditFacts, ChainActivity, LayerActivity, OutputFacts, Region
from relulint.formatting import percent


def _scalar(values: tuple[float, ...] | None) -> Any:
    """One output: the number; several: the list; unknown: None."""
    if values is None:
        return None
    return values[0] if len(values) == 1 else list(values)


def layer_record(layer: LayerActivity) -> dict[str, Any]:
    return {
        "index": layer.index,
        "module": layer.module,
        "width": layer.width,
        "dead_units": len(layer.dead_units),
        "dead": list(layer.dead_units),
        "near_dead_units": len(layer.near_dead_units),
        "near_dead": list(layer.near_dead_units),
        "dead_fraction": layer.dead_fraction,
        "active_fraction": list(layer.active_fraction),
        "measured": layer.measured,
        "note": layer.note,
    }


def chain_record(chain: ChainActivity) -> dict[str, Any]:
    return {
        "index": chain.index,
        "shape": chain.shape,
        "bypassed": chain.bypassed,
        "layers": [layer_record(layer) for layer in chain.layers],
        "dead_layer": chain.dead_layer,
        "near_dead_layer": chain.near_dead_layer,
    }


def region_record(region: Region) -> dict[str, Any]:
    return {
        "count": region.count,
        "value": _scalar(region.value),
        "low": list(region.low),
        "high": list(region.high),
        "target_mean": _scalar(region.target_mean),
        "target_median": _scalar(region.target_median),
    }


def output_record(output: OutputFacts) -> dict[str, Any]:
    return {
        "std": output.std,
        "spread": output.spread,
        "constant": output.constant,
        "near_constant": output.near_constant,
        "value": _scalar(output.value),
        "target_mean": _scalar(output.target_mean),
        "target_median": _scalar(output.target_median),
        "target_std": _scalar(output.target_std),
        "matches": output.matches,
        "distance_mean": output.distance_mean,
        "distance_median": output.distance_median,
        "tolerance": output.tolerance,
        "r2": output.r2,
        "regions": [region_record(r) for r in output.regions],
    }


def audit_record(audit: AuditFacts) -> dict[str, Any]:
    """The `"audit"` member of a target in the json document."""
    return {
        "weights": audit.weights or None,
        "weights_key": audit.weights_key,
        "inputs": audit.inputs,
        "data_source": audit.data_source,
        "loss": audit.loss,
        "chains": [chain_record(c) for c in audit.chains],
        "output": output_record(audit.output) if audit.output else None,
        "degenerate": [
            {
                "chain": d.chain,
                "layer": d.layer,
                "module": d.module,
                "kind": d.kind,
                "units": list(d.units),
                "value": d.value,
                "scale": d.scale,
            }
            for d in audit.degenerate
        ],
        "exact_two_layer": list(audit.exact_two_layer),
        "causes": list(audit.causes),
    }


def _numbers(values: tuple[float, ...] | None) -> str:
    if values is None:
        return "–"
    return ", ".join(f"{v:.6g}" for v in values)


def audit_lines(audit: AuditFacts) -> list[str]:
    """The text panel's audit section: weights and inputs, one line per hidden layer, the output."""
    where = f" [{audit.weights_key!r}]" if audit.weights_key else ""
    lines = [
        f"weights: {audit.weights or '(as built)'}{where}",
        f"inputs: {audit.inputs} ({audit.data_source})",
    ]
    for chain in audit.chains:
        dead_layer = chain.dead_layer
        head = f"chain #{chain.index} ({chain.shape})"
        if dead_layer is not None:
            head += f": hidden layer {dead_layer} is zero on every input (collapsed)"
        elif chain.bypassed:
            head += ": a skip connection goes around it"
        lines.append(head)
        for layer in chain.layers:
            if not layer.measured:
                lines.append(
                    f"  layer {layer.index:>2} {layer.module:<16} width {layer.width:>4}  {layer.note}"
                )
                continue
            active = sorted(layer.active_fraction)
            median = active[len(active) // 2] if active else 0.0
            near = f", {len(layer.near_dead_units)} near dead" if layer.near_dead_units else ""
            lines.append(
                f"  layer {layer.index:>2} {layer.module:<16} width {layer.width:>4}  dead {len(layer.dead_units):>4}"
                f" ({percent(layer.dead_fraction)}){near}  median unit active on {percent(median)} of inputs"
            )
    output = audit.output
    if output is not None:
        kind = "constant" if output.constant else "near constant" if output.near_constant else "varies"
        text = f"output: {kind}, mean {_numbers(output.value)}, std {output.std:.3g}"
        if output.target_mean is not None:
            text += f"; targets: mean {_numbers(output.target_mean)}, median {_numbers(output.target_median)}"
            if output.matches:
                text += f" → matches the {output.matches} (collapse Thm 4)"
            if output.r2 is not None:
                text += f"; R² = {round(output.r2, 3) + 0.0:.3f}"
        lines.append(text)
        if output.regions:
            lines.append(f"output constant on {len(output.regions)} region(s) (collapse Cor 6)")
    if audit.degenerate:
        kinds: dict[str, int] = {}
        for item in audit.degenerate:
            kinds[item.kind] = kinds.get(item.kind, 0) + 1
        lines.append("degenerate (degenerate §2): " + ", ".join(f"{n} {k}" for k, n in kinds.items()))
    return lines
