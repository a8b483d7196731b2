"""The pipeline, and the Python API: `check(...)` returns the same `Report` the command line renders.

    Target → load → LoadedModel → capture → Capture → extract → ModelFacts → rules → Finding → Report

    >>> import relulint
    >>> report = relulint.check("examples/pinn.py:DeepNarrowPINN")
    >>> sorted({f.code for f in report.findings})
    ['RL101', 'RL102', 'RL201', 'RL202']
    >>> relulint.check("examples/pinn.py:WidePINN").findings
    ()

Targets may be strings (``"model.py:Net"``, ``"pkg.models:Net"``, ``"model.py"``), `Target` records,
or `torch.nn.Module` instances. Keyword arguments override `Options` fields (``p=0.1``, ``probe=True``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from relulint import __version__
from relulint.errors import LoadError, RelulintError, UsageError
from relulint.options import Options
from relulint.records.loaded import Failure, LoadedModel, Skipped, Target
from relulint.records.model_facts import Chain, ModelFacts, TrainingFacts
from relulint.records.report import Finding, Report, TargetReport

Progress = Callable[[str], None]


def make_options(options: Options | None = None, **overrides: Any) -> Options:
    """`options` (or the defaults) with keyword overrides, each checked by its option spec as the command
    line and the config are (`Options` validates its fields); an unknown name or a bad value is a
    `UsageError` with a one-line message naming the keyword."""
    base = options or Options()
    names = [f.name for f in dataclasses.fields(Options)]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        close = difflib.get_close_matches(unknown[0], names, n=1)
        suggestion = f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageError(
            f"unknown option {unknown[0]!r} for relulint.check{suggestion}",
            hint=f"options are: {', '.join(sorted(names))} (relulint config describes them)",
        )
    return base.replace(**overrides) if overrides else base


def check(
    *targets: Any,
    options: Options | None = None,
    cwd: str | Path | None = None,
    progress: Progress | None = None,
    keep_going: bool = False,
    **overrides: Any,
) -> Report:
    """Lint each target and return the `Report` (findings after suppressions and baseline).

    Raises `relulint.errors.RelulintError` (exit code 2 on the command line) for a usage error or an
    exception in the user's code; with `keep_going` (`relulint check DIR`) such an error in one target is
    recorded in `Report.failures` and the other targets are still checked.
    """
    opts, base, training = prepare_run(
        targets,
        options,
        cwd,
        overrides,
        UsageError("no target to check", hint="pass a model: relulint.check('model.py:Net')"),
    )
    report = run_models(
        targets,
        opts,
        base,
        lambda loaded: lint_model(loaded, opts, training, progress),
        progress=progress,
        keep_going=keep_going,
    )
    return postprocess(report, opts, cwd=base)


LOADING = "loading "  # the prefix of the progress message sent as each target starts


def prepare_run(
    targets: tuple[Any, ...],
    options: Options | None,
    cwd: str | Path | None,
    overrides: dict[str, Any],
    no_target: UsageError,
) -> tuple[Options, Path, TrainingFacts]:
    """What `check` and `audit` start from: the checked options, the working directory and the training
    facts; `no_target` is raised when no target was given."""
    opts = make_options(options, **overrides)
    base = Path(cwd) if cwd is not None else Path.cwd()
    if not targets:
        raise no_target
    return opts, base, training_facts(opts, base)


def run_models(
    targets: Iterable[Any],
    opts: Options,
    base: Path,
    one_model: Callable[[LoadedModel], TargetReport],
    *,
    progress: Progress | None = None,
    verb: str = "checking",
    keep_going: bool = False,
) -> Report:
    """Load each target and run `one_model` on every model it builds, each under one `--timeout` (import,
    build, trace, analysis and probe); the `Report` before suppressions and baseline (`postprocess`).

    With `keep_going` a `RelulintError` in one target is recorded in `Report.failures` and the other
    targets still run; without it, it propagates (exit 2 on the command line). File-system look-ups are
    memoized for the run (`relulint.runcache.run_scope`), the caller's numpy and `random` states are saved
    once for it (`relulint.sandbox.rng_guard`), and the console script freezes what is imported before
    the first target is (`relulint.runcache.freeze_imports`)."""
    from relulint.runcache import freeze_imports, run_scope
    from relulint.sandbox import rng_guard

    freeze_imports()
    with run_scope(), rng_guard():
        return _run_models(targets, opts, base, one_model, progress, verb, keep_going)


def _run_models(
    targets: Iterable[Any],
    opts: Options,
    base: Path,
    one_model: Callable[[LoadedModel], TargetReport],
    progress: Progress | None,
    verb: str,
    keep_going: bool,
) -> Report:
    """`run_models` inside its run scope."""
    reports: list[TargetReport] = []
    skipped: list[Skipped] = []
    failures: list[Failure] = []
    for item in targets:
        if progress:
            progress(f"{LOADING}{_label(item)}")
        try:
            started = time.monotonic()
            item = as_target(item, opts, base)
            single = not isinstance(item, Target) or item.name is not None
            with model_time_limit(opts.timeout if single else None, _target_label(item)):
                loaded_models, skips = load_target(item, opts, base)
            skipped.extend(skips)
            budget = (opts.timeout or math.inf) * max(len(loaded_models), 1)
            for loaded in loaded_models:
                if progress:
                    progress(f"{verb} {loaded.path}:{loaded.name}")
                left = budget - (time.monotonic() - started)
                with model_time_limit(min(opts.timeout or math.inf, left), loaded.name, timeout=opts.timeout):
                    reports.append(one_model(loaded))
        except RelulintError as error:
            if not keep_going:
                raise
            failures.append(failure(item, error, base))
    return Report(
        targets=tuple(reports), skipped=tuple(skipped), version=__version__, failures=tuple(failures)
    )


def failure(item: Any, error: RelulintError, base: Path) -> Failure:
    """The report's line for a target that failed (`check(..., keep_going=True)`)."""
    from relulint.precommit import split_spec
    from relulint.sandbox import display_path

    spec = _label(item)
    location = split_spec(spec)[0]
    path = display_path(base / location, cwd=base) if location.endswith(".py") else location
    message = error.message.removesuffix(f" while importing {path}")  # the report names the file already
    return Failure(target=spec, path=path, message=message, hint=error.hint)


def _label(item: Any) -> str:
    """A target as the user wrote it: `file.py:Name`, a configured table's `target`, a model's class."""
    if isinstance(item, (str, Path)):
        return str(item)
    if isinstance(item, dict):
        return str(item.get("target", ""))
    return str(getattr(item, "spec", None) or type(item).__name__)


def training_facts(options: Options, base: Path) -> TrainingFacts:
    """The training set-up: options (config + CLI) combined with training scripts and target files."""
    if not options.scripts and not options.targets_file:
        return options.training
    from relulint.training import gather_training_facts

    return gather_training_facts(options, base)


@contextmanager
def model_time_limit(seconds: float | None, what: str, *, timeout: float | None = None) -> Iterator[None]:
    """``--timeout`` over one model's whole check: its import and build, tracing, analysis and probe.

    A named target (``file.py:Net``, a module instance) gets one limit of ``--timeout`` seconds for all of
    it; a whole file of n models (imported once, each model built under its own limit) gets n times
    ``--timeout`` in all and each model's analysis at most ``--timeout``. Every user-code stage inside
    runs under what is left (`relulint.sandbox` caps an inner limit by the enclosing one), so no stage can
    take the run past it. ``seconds`` ≤ 0 means the time is already spent; None or ∞ means no limit.
    """
    from relulint.sandbox import _time_limit, _TimedOut

    limit = timeout if timeout is not None else seconds
    if seconds is not None and seconds <= 0:
        raise _timed_out(limit, what)
    try:
        with _time_limit(None if seconds is None or math.isinf(seconds) else seconds):
            yield
    except _TimedOut as error:
        if isinstance(error.__context__, LoadError):  # a stage's own timeout message, already on its way
            raise error.__context__ from None
        raise _timed_out(limit, what) from None


def _timed_out(limit: float | None, what: str) -> LoadError:
    return LoadError(
        f"timed out after {limit or 0:g} s while checking {what} (--timeout bounds each model's whole check)",
        hint="raise --timeout; with --probe, fewer --samples take less time",
    )


def _target_label(item: Any) -> str:
    if isinstance(item, Target):
        return item.spec
    return type(item).__name__


def as_target(item: Any, options: Options, base: Path) -> Any:
    """A target string or path parsed into a `Target`; a `Target` or an `nn.Module` as it is."""
    if isinstance(item, (str, Path)):
        from relulint.target import parse_target

        return parse_target(str(item), kwargs=options.kwargs, input_shape=options.input_shape, cwd=base)
    return item


def load_target(item: Any, options: Options, base: Path) -> tuple[list[LoadedModel], list[Skipped]]:
    """Build the model(s) a target names; an `nn.Module` instance is taken as it is."""
    if isinstance(item, (str, Path, Target)):
        from relulint.load import load
        from relulint.target import parse_target

        target = (
            item
            if isinstance(item, Target)
            else parse_target(
                str(item),
                kwargs=options.kwargs,
                input_shape=options.input_shape,
                input_dtype=options.input_dtype,
                cwd=base,
            )
        )
        return load(target, timeout=options.timeout, strict=True)  # user-code errors are exit 2
    import torch

    if isinstance(item, torch.nn.Module):
        from relulint.load import from_module

        return [from_module(item)], []
    raise UsageError(
        f"cannot check a {type(item).__name__}",
        hint="pass 'file.py:Name', 'pkg.module:Name', 'file.py', or an nn.Module instance",
    )


def lint_model(
    loaded: LoadedModel, options: Options, training: TrainingFacts, progress: Progress | None = None
) -> TargetReport:
    """Capture, extract, probe and run the rules on one built model."""
    started = time.perf_counter()
    facts = model_facts(loaded, options, training)
    facts = with_probes(loaded, facts, options, progress)
    return target_report(loaded, facts, options, started)


def target_report(loaded: LoadedModel, facts: ModelFacts, rules: Options, started: float) -> TargetReport:
    """The rules ``rules`` selects run on ``facts``, as one model's report (``started``: `time.perf_counter`
    when its work began); shared by `lint_model` and `relulint.audit.audit_model`."""
    from relulint.registry import run_rules

    findings = tuple(sorted(run_rules(facts, rules), key=_finding_order))
    return TargetReport(
        target=loaded.target.spec,
        name=loaded.name,
        path=loaded.path,
        facts=facts,
        findings=findings,
        seconds=time.perf_counter() - started,
    )


def model_facts(loaded: LoadedModel, options: Options, training: TrainingFacts) -> ModelFacts:
    """Capture the forward pass (under the time limit) and extract its ReLU chains."""
    from relulint.capture import capture
    from relulint.extract import extract_chains
    from relulint.graph import model_graph
    from relulint.sandbox import user_code
    from relulint.target import check_input_dtype, check_input_shape

    shape = check_input_shape(options.input_shape) or loaded.target.input_shape
    dtype = check_input_dtype(options.input_dtype) or loaded.target.input_dtype
    with user_code(options.timeout, f"tracing {loaded.name}.forward", [loaded.path]):
        captured = capture(loaded, input_shape=shape, input_dtype=dtype)
    chains = extract_chains(loaded, captured)
    return ModelFacts(
        target=loaded.target.spec,
        name=loaded.name,
        path=loaded.path,
        location=loaded.location,
        capture_method=captured.method,
        capture_reason=captured.reason,
        chains=chains,
        training=training,
        init_events=loaded.init_events,
        capture_notes=captured.notes,
        capture_gaps=captured.gaps,
        graph=model_graph(loaded, captured),
    )


def chains_to_probe(facts: ModelFacts, options: Options) -> list[Chain]:
    """`--probe`: the chains at risk (Thm 8 bound above p over the layers that can die, or an init the bound
    does not cover); `--probe-all`: every chain. Never a chain with a sum of layers, which the probe does
    not model (`relulint.chain_facts.summed_layers`): the bound stands for it."""
    from relulint.chain_facts import negative_init, summed_layers, unprotected_widths
    from relulint.theory.collapse import p_born_dead_upper

    if not (options.probe or options.probe_all):
        return []
    modelled = [c for c in facts.chains if not summed_layers(c)]
    if options.probe_all:
        return modelled
    # at risk by the bound, or outside it (a negative-mean init, which the symmetric bound does not cover)
    return [
        c
        for c in modelled
        if unprotected_widths(c)
        and (p_born_dead_upper(unprotected_widths(c)) > options.p or negative_init(c) is not None)
    ]


def with_probes(
    loaded: LoadedModel, facts: ModelFacts, options: Options, progress: Progress | None = None
) -> ModelFacts:
    """Facts with the Monte-Carlo probe (`relulint.probe`) of the chosen chains, when asked for; each probe
    stops at ``options.timeout`` and reports its samples and ETA on ``progress`` (the CLI's status line)."""
    chains = chains_to_probe(facts, options)
    if not chains:
        return facts
    from relulint.probe import load_probe_data, probe_chain, status_progress

    data = load_probe_data(options.data) if options.data else None
    probes, compare = {}, {}
    for chain in chains:
        kwargs: dict[str, Any] = dict(
            samples=options.samples,
            points=options.points,
            domain=options.domain,
            data=data,
            seed=options.seed,
            device=options.device,
            max_memory=options.max_memory,
            timeout=options.timeout,
        )
        label = f"probing chain {chain.index}"
        shown = status_progress(progress, label) if progress else None
        probes[chain.index] = probe_chain(loaded, chain, progress=shown, **kwargs)
        if options.compare == "rai":
            shown = status_progress(progress, f"{label} (RAI)") if progress else None
            compare[chain.index] = probe_chain(loaded, chain, init="rai", progress=shown, **kwargs)
    return dataclasses.replace(facts, probes=probes, compare_probes=compare)


def postprocess(report: Report, options: Options, cwd: Path | None = None) -> Report:
    """Apply `# relulint: ignore[...]` comments (reporting unused ones) and per-file ignores, fingerprint
    every finding (`relulint.fingerprints`), then apply the baseline."""
    from relulint.fingerprints import fingerprint_report
    from relulint.suppress import suppress_report

    report = fingerprint_report(suppress_report(report, options, cwd=cwd))
    if options.baseline:
        from relulint.baseline import filter_report
        from relulint.registry import enabled_rules

        ran = {rule.code for rule in enabled_rules(options)}
        report = filter_report(report, options.baseline, codes=ran)
    return report


def _finding_order(finding: Finding) -> tuple[str, int, str, int]:
    return (finding.path, finding.line, finding.code, finding.chain if finding.chain is not None else -1)


def all_findings(reports: Iterable[TargetReport]) -> list[Finding]:
    return [f for r in reports for f in r.findings]
