"""`relulint audit`: explain a trained network from its checkpoint (`collapse` §4, `degenerate` §2-3).

    Target → load → capture → extract (the ReLU chains, as `check`) → the checkpoint's weights
    (`relulint.audit.checkpoint`, weights-only) → the model over the inputs (`--data`, or the domain)
    → per hidden layer its dead units, the first layer zero on every input (`collapse` Lemma 1), the
    output and the targets' mean / median (Thm 4, Cor 6), degenerate units (`degenerate` §2)
    → `AuditFacts` on `ModelFacts.audit` → RL501-RL503 → the same `Report` `check` returns

    >>> from relulint.audit import audit
    >>> report = audit("model.py:Net", weights="last.pt", data="x.npy", targets_file="y.npy")  # doctest: +SKIP

Only the rules of the "audit" group (and relulint's own, RL9xx) run; the architecture rules RL101, RL201,
RL401 are consulted for RL501's cause.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from relulint.options import Options
from relulint.records.loaded import LoadedModel
from relulint.records.report import Report, TargetReport

AUDIT_GROUPS = ("audit", "relulint")
CAUSE_RULES = ("RL101", "RL201", "RL301", "RL401")  # architecture / init / training rules that explain RL501


def audit(
    *targets: Any,
    options: Options | None = None,
    cwd: str | Path | None = None,
    progress: Any = None,
    **overrides: Any,
) -> Report:
    """Audit each target with the trained weights `options.weights` (`weights=` keyword); without
    weights, the model as its target builds it (a factory that loads its own checkpoint)."""
    from relulint.api import postprocess, prepare_run, run_models
    from relulint.errors import UsageError

    no_target = UsageError("no target to audit", hint="relulint audit model.py:Net --weights last.pt")
    opts, base, training = prepare_run(targets, options, cwd, overrides, no_target)
    rules = audit_options(opts)
    report = run_models(
        targets,
        opts,
        base,
        lambda loaded: audit_model(loaded, opts, training, base, rules),
        progress=progress,
        verb="auditing",
    )
    return postprocess(report, rules, cwd=base)


def audit_options(options: Options) -> Options:
    """The options with the selection narrowed to the audit rules (and relulint's own) the user enabled."""
    from relulint.registry import enabled_rules

    codes = tuple(r.code for r in enabled_rules(options) if set(r.groups) & set(AUDIT_GROUPS))
    return options.replace(select=codes, extend_select=(), ignore=() if codes else ("RL",))


def audit_model(
    loaded: LoadedModel, options: Options, training: Any, base: Path, rules: Options | None = None
) -> TargetReport:
    """Capture and extract as `check`, load the weights, run the model over the inputs, run RL5xx
    (`rules`: the options narrowed by `audit_options`, computed once per run by `audit`)."""
    from relulint.api import model_facts, target_report

    started = time.perf_counter()
    facts = model_facts(loaded, options, training)
    facts = dataclasses.replace(facts, audit=audit_facts(loaded, facts, options, base))
    return target_report(loaded, facts, rules or audit_options(options), started)


def audit_facts(loaded: LoadedModel, facts: Any, options: Options, base: Path) -> Any:
    """Weights → inputs → activity, output, degenerate units → `AuditFacts`."""
    import numpy as np

    from relulint.audit.activity import chain_activity, model_inputs, observe
    from relulint.audit.checkpoint import load_weights
    from relulint.audit.data import domain_points, read_array
    from relulint.audit.degenerate import DEFAULT_UNBALANCE, degeneracies
    from relulint.audit.outcome import output_facts
    from relulint.audit.records import AuditFacts
    from relulint.errors import DataError
    from relulint.sandbox import user_code

    model = loaded.module
    key = None
    if options.weights:
        weights_path = (
            Path(options.weights) if Path(options.weights).is_absolute() else base / options.weights
        )
        with user_code(options.timeout, f"loading the weights into {loaded.name}", [loaded.path]):
            key = load_weights(model, weights_path, display=options.weights).key
    chains = facts.chains
    if options.data:
        xs = read_array(options.data, base, "data")
        source = f"data: {options.data}"
    else:
        d_in = _input_dim(facts, options)
        xs, source = domain_points(d_in, options.points, options.domain, options.seed)
    targets = None
    if options.targets_file:
        targets = read_array(options.targets_file, base, "targets")
        if targets.shape[0] != xs.shape[0]:
            raise DataError(
                f"--targets has {targets.shape[0]} rows but the inputs have {xs.shape[0]}",
                hint="give the targets of the same inputs, one row each (and --data)",
            )
    shape = options.input_shape if isinstance(options.input_shape, tuple) else loaded.target.input_shape
    from relulint.errors import UserCodeError

    try:
        with user_code(options.timeout, f"running {loaded.name} on the inputs", [loaded.path]):
            inputs = model_inputs(xs, model, shape if isinstance(shape, tuple) else None)
            observation = observe(model, chains, inputs)
    except UserCodeError as error:
        cause = error.__cause__
        text = str(cause).strip().splitlines()[0] if cause is not None and str(cause).strip() else ""
        if isinstance(cause, RuntimeError) and "shape" in text:  # the inputs do not fit the model
            raise DataError(
                f"{loaded.name} cannot run on the inputs ({xs.shape[0]} rows of {xs.shape[1]} values): {text}",
                hint="--data holds one model input per row; --input-shape N,C,H,W reshapes the rows",
            ) from None
        raise
    activity = chain_activity(chains, observation, float(np.abs(xs).max()) if xs.size else 1.0)
    output = None
    if observation.outputs is not None:
        outputs = observation.outputs
        if targets is not None and targets.shape[1] != outputs.shape[1]:
            raise DataError(
                f"--targets has {targets.shape[1]} columns but the model has {outputs.shape[1]} outputs",
                hint="one target column per output (y.csv:col1,col2)",
            )
        output = output_facts(outputs, xs, targets, options.loss)
    factor = float(options.rule_option("RL503", "unbalance-factor", DEFAULT_UNBALANCE))
    return AuditFacts(
        weights=str(options.weights or ""),
        weights_key=key,
        inputs=int(xs.shape[0]),
        data_source=source,
        chains=activity,
        output=output,
        degenerate=degeneracies(model, chains, factor),
        loss=options.loss,
        exact_two_layer=tuple(c.index for c in chains if c.depth == 1),
        causes=architecture_causes(facts, options),
    )


def _input_dim(facts: Any, options: Options) -> int:
    if isinstance(options.input_shape, tuple) and len(options.input_shape) >= 2:
        size = 1
        for n in options.input_shape[1:]:
            size *= n
        return size
    if facts.chains:
        return min(facts.chains, key=lambda c: c.index).input_dim
    from relulint.errors import UsageError

    raise UsageError("cannot tell the model's input size", hint="pass --data FILE or --input-shape N,D")


def architecture_causes(facts: Any, options: Options) -> tuple[str, ...]:
    """The architecture / init / training rules (`relulint check`) that fire on this model: the cause
    RL501 names for a collapse."""
    from relulint.registry import run_rules

    chosen = options.replace(select=CAUSE_RULES, extend_select=(), ignore=(), probe=False, probe_all=False)
    return tuple(sorted({f.code for f in run_rules(facts, chosen)}))
