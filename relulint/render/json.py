"""`--format json`: the versioned report document (also documented in docs/json-format.md).

The document is written to stdout (or `-o FILE`) with nothing else on it. Version 1::

    {
      "version": 1,                      # this document's format; bumped on incompatible changes
      "relulint": "0.1.0",               # the relulint that wrote it
      "targets": [                       # one entry per model built and checked
        {
          "target": "model.py:Net",      # the target as given (file.py:Name, pkg.mod:Name or file.py)
          "name": "Net",                 # class or factory name
          "path": "model.py",            # the model's file, relative to the working directory
          "line": 5,                     # line of the class / factory definition (null if unknown)
          "capture": {"method": "fx", "reason": null},   # fx | hooks | registration; why a fallback
          "seconds": 0.12,               # time spent on this model
          "chains": [                    # every ReLU chain found (see relulint.verdict.chain_summary)
            {
              "index": 0, "shape": "1 → 3×12 → 1", "hidden_widths": [3, ...], "depth": 12,
              "input_dim": 1, "output_dim": 1, "end": "output", "path": "model.py", "line": 8,
              "p_upper_all": 0.798,      # collapse Thm 8 upper bound over all its ReLU layers
              "p_upper": 0.798,          # the same value (its older name)
              "p_upper_unprotected": 0.798,  # the same over the layers that can kill the network
              "p_lower": 0.61,           # dying Thm 3.3 lower bound; null unless uniform width, d_in = 1, zero
              #                          biases, i.i.d. symmetric weights
              "p_probe": null,           # Monte-Carlo estimate; null without --probe
              "safe_depth": 1,           # most ReLU layers at this width with P <= p (collapse Eq 5)
              "min_width": 11,           # narrowest width with P <= p at this depth
              "verdict": "likely dead",  # no relu | protected | ok | at risk | likely dead
              "normalization": null,     # why normalized layers count or not (string), or null
              "layers": [                # one entry per affine layer of the chain
                {"module": "layers.0", "in_features": 1, "out_features": 3, "activation": "relu",
                 "norm": null, "norm_features": null, "routes": ["x→output"],
                 "summed_with": [],        # other layers added to this one before its ReLU (relu(a(x) + b(y)))
                 "line": 8,
                 "init": {"weight": {"law": "pytorch-default", "symmetric": true, "origin": "...", ...} | null,
                          "bias": {...} | null}}
              ],
              "probe": {"samples", "born_dead", "estimate", "ci", "near_constant", "device", "seconds",
                        "method", "dead_unit_fraction", "init", "notes"},  # only when a probe ran
              "compare_probe": {...}     # only with --compare rai
            }
          ],
          "paths": [                     # the ReLU layers on every input→output path: what RL101 decides on
            {"chains": [0], "routes": ["x→output"], "layers": [[0, 0], ...], "hidden_widths": [3, ...],
             "depth": 12, "p_upper_unprotected": 0.798, "probability": 0.798, "source": "bound",
             "verdict": "likely dead"}
          ],
          "findings": [
            {"code": "RL101", "name": "born-dead-relu-chain", "severity": "error",   # info|warning|error
             "message": "...", "path": "model.py", "line": 8, "col": 1, "target": "model.py:Net",
             "chain": 0,                 # chain index, or null for a model-level finding
             "fix": "..." | null, "details": {...},      # rule-specific numbers
             "fingerprint": "0f3c..."}   # stable id (no line numbers): baselines and SARIF
          ]
        }
      ],
      "skipped": [{"name": "NeedsArgs", "reason": "...", "path": "models.py", "line": 20}],
      "failures": [{"target": "pkg/broken.py", "path": "pkg/broken.py", "message": "...", "hint": "..."}],
      "fixed": ["RL101 model.py:Net 1 → 3×12 → 1"],  # with --baseline: entries no longer found
      "summary": {"findings": 1, "errors": 1, "warnings": 0, "info": 0, "models": 1, "skipped": 0,
                  "fixed": 0},
      "statistics": [{"code", "name", "count", "severity"}]       # only with --statistics
    }

Numbers that are not finite (NaN, ±inf) are written as null, so the document is strict JSON.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii as _encode_string
from pathlib import PurePath
from typing import Any

from relulint.options import Options
from relulint.records.loaded import Skipped
from relulint.records.model_facts import Chain, Layer, ModelFacts
from relulint.records.report import Finding, Report, Severity, TargetReport
from relulint.render.totals import report_counts
from relulint.verdict import (
    KillSet,
    chain_summary,
    kill_sets,
    loose_bound,
    network_risk,
    verdict_for,
)

JSON_VERSION = 1


def jsonable(value: Any) -> Any:
    """`value` as strict-JSON data: tuples → lists, non-finite floats → null, enums/paths → strings."""
    if value is None or isinstance(value, (bool, int, str)):
        return value.label if isinstance(value, Severity) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if hasattr(value, "item"):  # numpy / torch scalars
        try:
            return jsonable(value.item())
        except (TypeError, ValueError):
            pass
    return str(value)


def layer_record(layer: Layer) -> dict[str, Any]:
    return {
        "module": layer.module,
        "in_features": layer.in_features,
        "out_features": layer.out_features,
        "activation": layer.activation,
        "norm": layer.norm,
        "norm_features": layer.norm_features,
        "routes": list(layer.routes) if layer.routes is not None else None,
        "summed_with": [part.module for part in layer.summed_with],
        "line": layer.location.line if layer.location else None,
        "init": {
            "weight": layer.weight_init.as_dict() if layer.weight_init else None,
            "bias": layer.bias_init.as_dict() if layer.bias_init else None,
        },
    }


def chain_record(facts: ModelFacts, chain: Chain, p: float) -> dict[str, Any]:
    """`chain_summary` plus the per-layer inits and the probe results."""
    probe = facts.probes.get(chain.index)
    record = chain_summary(chain, p, probe)
    record["layers"] = [layer_record(layer) for layer in chain.layers]
    if probe is not None:
        record["probe"] = probe.as_dict()
    compare = facts.compare_probes.get(chain.index)
    if compare is not None:
        record["compare_probe"] = compare.as_dict()
    return record


def path_record(facts: ModelFacts, kill_set: KillSet, p: float) -> dict[str, Any]:
    """One kill set (`relulint.verdict.kill_sets`): the ReLU layers that can die on every path of its routes,
    their `collapse` Thm 8 bound, and the probability RL101 decides on (`relulint.verdict.network_risk`)."""
    probability, source = network_risk(kill_set, facts, p)
    chains = kill_set.member_chains(facts.chains)
    verdict = verdict_for(probability, p, loose=loose_bound(chains, source))
    return {
        "chains": list(kill_set.chains),
        "routes": list(kill_set.routes),
        "layers": [list(member) for member in kill_set.members],
        "hidden_widths": list(kill_set.widths),
        "depth": len(kill_set.widths),
        "p_upper_unprotected": kill_set.bound,
        "probability": probability,
        "source": source,
        "verdict": verdict,
    }


def finding_record(finding: Finding) -> dict[str, Any]:
    return {
        "code": finding.code,
        "name": finding.name,
        "severity": finding.severity.label,
        "message": finding.message,
        "path": finding.location.path,
        "line": finding.location.line,
        "col": finding.location.col,
        "target": finding.target,
        "chain": finding.chain,
        "fix": finding.fix,
        "details": dict(finding.details),
        "fingerprint": finding.fingerprint,
    }


def target_record(target: TargetReport, p: float) -> dict[str, Any]:
    facts = target.facts
    return {
        "target": target.target,
        "name": target.name,
        "path": target.path,
        "line": facts.location.line if facts else None,
        "capture": {"method": facts.capture_method, "reason": facts.capture_reason} if facts else None,
        "seconds": target.seconds,
        "chains": [chain_record(facts, c, p) for c in facts.chains] if facts else [],
        "paths": [path_record(facts, k, p) for k in kill_sets(facts.chains)] if facts else [],
        "findings": [finding_record(f) for f in target.findings],
    } | (_audit_member(facts) if facts is not None and facts.audit is not None else {})


def _audit_member(facts: ModelFacts) -> dict[str, Any]:
    """`relulint audit`: the trained model's activity and output (`relulint.render.audit`)."""
    from relulint.render.audit import audit_record

    return {"audit": audit_record(facts.audit)}


def skipped_record(skipped: Skipped) -> dict[str, Any]:
    return {
        "name": skipped.name,
        "reason": skipped.reason,
        "path": skipped.location.path if skipped.location else None,
        "line": skipped.location.line if skipped.location else None,
    }


def json_document(
    report: Report, *, options: Options | None = None, statistics: bool = False
) -> dict[str, Any]:
    """The version-1 document as Python data (strict JSON values)."""
    p = (options or Options()).p
    document: dict[str, Any] = {
        "version": JSON_VERSION,
        "relulint": report.version,
        "targets": [target_record(t, p) for t in report.targets],
        "skipped": [skipped_record(s) for s in report.skipped],
        "failures": [dataclasses.asdict(failure) for failure in report.failures],
        "fixed": list(report.fixed),
        "summary": report_counts(report),
    }
    if statistics:
        from relulint.render.statistics import statistics as rows

        document["statistics"] = rows(report)
    return jsonable(document)


def render_json(report: Report, *, options: Options | None = None, statistics: bool = False) -> str:
    return indented_json(json_document(report, options=options, statistics=statistics)) + "\n"


class _NotPlain(Exception):
    """A value `indented_json` leaves to ``json.dumps`` (a non-string key, a non-finite float, …)."""


def indented_json(value: Any) -> str:
    """Exactly ``json.dumps(value, indent=2, allow_nan=False)``, faster for strict-JSON data (`jsonable`'s).

    ``indent`` makes ``json.dumps`` use its pure-Python encoder (a generator per container); a report of
    200 models is over a megabyte of it. This writes the same text with one recursive function and the C
    string encoder; any other value (a key that is not a string, a NaN) is left to ``json.dumps`` itself,
    so the output — or the error — is its own.
    """
    out: list[str] = []
    try:
        _encode(value, "\n", out)
    except _NotPlain:
        return json.dumps(value, indent=2, allow_nan=False)
    return "".join(out)


def _encode(value: Any, newline: str, out: list[str]) -> None:
    """Append ``value`` as ``json.dumps`` writes it at the indentation ``newline`` ends with."""
    if isinstance(value, str):
        out.append(_encode_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _NotPlain
        out.append(float.__repr__(value))
    elif isinstance(value, dict):
        _encode_items(value, newline, out)
    elif isinstance(value, (list, tuple)):
        _encode_items(value, newline, out)
    else:
        raise _NotPlain


def _encode_items(value: dict[Any, Any] | list[Any] | tuple[Any, ...], newline: str, out: list[str]) -> None:
    """A dict's entries or a list's items, one per line, indented two spaces past ``newline``."""
    mapping = isinstance(value, dict)
    if not value:
        out.append("{}" if mapping else "[]")
        return
    inner = newline + "  "
    separator = ("{" if mapping else "[") + inner
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _NotPlain
            out.append(separator)
            out.append(_encode_string(key))
            out.append(": ")
            _encode(item, inner, out)
            separator = "," + inner
    else:
        for item in value:
            out.append(separator)
            _encode(item, inner, out)
            separator = "," + inner
    out.append(newline + ("}" if mapping else "]"))
