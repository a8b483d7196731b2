"""The training set-up RL401 reads: optimizer, step size, momentum and the scale of the targets.

Three sources, all optional, combined here into one `TrainingFacts` (`momentum`: Arnekvist et al.):

* explicit values — `[tool.relulint.training]` (parsed by :func:`training_from_config`) and the command line
  (`--target-std`, `--optimizer`, `--lr`, `--momentum`: validated by :func:`validate_cli_training`, layered
  over the config by :func:`merge_cli_training` into `Options.training`);
* training scripts, read statically (:func:`scan_training_script`): every `torch.optim` constructor call,
  with its literal arguments.  A value that is not a literal is *unknown* and stays unknown;
* a targets file (:func:`target_std`): `.npy`, `.npz[:key]`, `.pt[:key]`, `.csv[:column]`, read in blocks
  by `relulint.datafiles` (the reader the probe's `--data` uses too).

Precedence, per value: command line > config > training script (for Adam's β1, `--momentum` > config
`betas` > config `momentum` > script `betas`: :func:`resolve_beta1`); `--target-std` wins over a targets
file, which wins over a configured `target-std`.  Where each optimizer value came from is recorded in
`TrainingFacts.sources` ("cli", "config", "script", "default", "unknown"), in words in `notes`, and for γ in
`target_source`.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from relulint.datafiles import ChunkedMoments, array_moments, split_spec
from relulint.errors import ConfigError, DataError
from relulint.options import Options
from relulint.records.location import Location
from relulint.records.model_facts import TrainingFacts
from relulint.theory.momentum import OPTIMIZER_FORMS

__all__ = [
    "OPTIMIZER_SIGNATURES",
    "UNKNOWN",
    "OptimizerCall",
    "RunningStats",
    "gather_training_facts",
    "is_unknown",
    "merge_cli_training",
    "resolve_beta1",
    "scan_training_script",
    "source_of",
    "target_stats",
    "target_std",
    "training_from_config",
    "validate_cli_training",
]

CHUNK = 1 << 20  # values per block when reading a targets file (`relulint.datafiles`)


class _Unknown:
    """A value written in the script that is not a literal (a variable, a call, an expression)."""

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        return False


UNKNOWN: Any = _Unknown()

# torch 2.13 signatures (tests/test_training.py checks them against `inspect.signature`): the positional
# parameters after `params`, then the defaults of those relulint reads.
OPTIMIZER_SIGNATURES: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "sgd": (
        ("lr", "momentum", "dampening", "weight_decay", "nesterov"),
        {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "nesterov": False},
    ),
    "adam": (("lr", "betas", "eps", "weight_decay", "amsgrad"), {"lr": 1e-3, "betas": (0.9, 0.999)}),
    "adamw": (("lr", "betas", "eps", "weight_decay", "amsgrad"), {"lr": 1e-3, "betas": (0.9, 0.999)}),
    "nadam": (("lr", "betas", "eps", "weight_decay", "momentum_decay"), {"lr": 2e-3, "betas": (0.9, 0.999)}),
    "radam": (("lr", "betas", "eps", "weight_decay"), {"lr": 1e-3, "betas": (0.9, 0.999)}),
    "adamax": (("lr", "betas", "eps", "weight_decay"), {"lr": 2e-3, "betas": (0.9, 0.999)}),
    "rmsprop": (
        ("lr", "alpha", "eps", "weight_decay", "momentum", "centered"),
        {"lr": 1e-2, "momentum": 0.0},
    ),
    "adagrad": (("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"), {"lr": 1e-2}),
    "adadelta": (("lr", "rho", "eps", "weight_decay"), {"lr": 1.0}),
    "asgd": (("lr", "lambd", "alpha", "t0", "weight_decay"), {"lr": 1e-2}),
    "rprop": (("lr", "etas", "step_sizes"), {"lr": 1e-2}),
    "lbfgs": (("lr", "max_iter"), {"lr": 1.0}),
    "sparseadam": (("lr", "betas", "eps"), {"lr": 1e-3, "betas": (0.9, 0.999)}),
}
_CLASS_NAMES = {
    "SGD": "sgd",
    "Adam": "adam",
    "AdamW": "adamw",
    "NAdam": "nadam",
    "RAdam": "radam",
    "Adamax": "adamax",
    "RMSprop": "rmsprop",
    "Adagrad": "adagrad",
    "Adadelta": "adadelta",
    "ASGD": "asgd",
    "Rprop": "rprop",
    "LBFGS": "lbfgs",
    "SparseAdam": "sparseadam",
}
_READ = ("lr", "momentum", "betas", "dampening", "nesterov")


# ----------------------------------------------------------------------------------- training scripts


@dataclass(frozen=True)
class OptimizerCall:
    """One `torch.optim.X(...)` construction found in a training script.

    `args` maps each parameter relulint reads (lr, momentum, betas, dampening, nesterov) to its value:
    the literal written, PyTorch's default when the argument is absent, or `UNKNOWN` when it is not a
    literal (or may hide in `**kwargs`).  `given` names the arguments written in the call.
    """

    optimizer: str  # lower-case class name: "sgd", "adam", ...
    location: Location
    args: Mapping[str, Any] = field(default_factory=dict)
    given: tuple[str, ...] = ()

    @property
    def unknown(self) -> tuple[str, ...]:
        return tuple(name for name, value in self.args.items() if value is UNKNOWN)

    def describe(self) -> str:
        shown = ", ".join(f"{k}={'unknown' if v is UNKNOWN else repr(v)}" for k, v in self.args.items())
        return f"{self.optimizer}({shown}) at {self.location.path}:{self.location.line}"


class _OptimizerFinder(ast.NodeVisitor):
    """Resolves import aliases of `torch.optim` and collects constructor calls of its optimizers."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.aliases: dict[str, str] = {}  # local name -> dotted name ("optim" -> "torch.optim")
        self.calls: list[OptimizerCall] = []

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self.aliases[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and not node.level:
            for alias in node.names:
                self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def qualified(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            head = self.qualified(node.value)
            return f"{head}.{node.attr}" if head else None
        return None

    def visit_Call(self, node: ast.Call) -> None:
        name = optimizer_name(self.qualified(node.func))
        if name is not None:
            self.calls.append(read_call(name, node, Location(self.path, node.lineno, node.col_offset + 1)))
        self.generic_visit(node)


def optimizer_name(qualified: str | None) -> str | None:
    """`torch.optim.SGD`, `torch.optim.sgd.SGD` → "sgd"; anything else → None."""
    if not qualified or not qualified.startswith("torch.optim."):
        return None
    return _CLASS_NAMES.get(qualified.rsplit(".", 1)[-1])


def literal(node: ast.expr) -> Any:
    """The value of a literal argument (numbers, tuples, lists, True/False, -x), else `UNKNOWN`."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return UNKNOWN
    if isinstance(value, list):
        value = tuple(value)
    return value


def read_call(name: str, node: ast.Call, location: Location) -> OptimizerCall:
    """The arguments relulint reads from one optimizer call: literal, default, or `UNKNOWN`."""
    positional, defaults = OPTIMIZER_SIGNATURES[name]
    written: dict[str, Any] = {}
    star_args = any(isinstance(a, ast.Starred) for a in node.args)
    for index, arg in enumerate(node.args[1:]):  # args[0] is the parameters
        if isinstance(arg, ast.Starred):
            break
        if index < len(positional):
            written[positional[index]] = literal(arg)
    star_kwargs = False
    for keyword in node.keywords:
        if keyword.arg is None:
            star_kwargs = True
        else:
            written[keyword.arg] = literal(keyword.value)
    args: dict[str, Any] = {}
    for key in _READ:
        if key in written:
            args[key] = written[key]
        elif key in defaults:
            args[key] = UNKNOWN if (star_kwargs or star_args) else defaults[key]
    return OptimizerCall(name, location, args, tuple(k for k in written if k in _READ))


def scan_training_script(path: str | Path, display: str | None = None) -> list[OptimizerCall]:
    """Every `torch.optim` optimizer constructed in a training script, found statically (AST, no import).

    Recognizes `torch.optim.SGD(...)`, `import torch.optim as optim; optim.Adam(...)`, `from torch import
    optim`, `from torch.optim import SGD as S`, `import torch as th; th.optim.AdamW(...)`.  Only literal
    arguments are read; any other expression is recorded as `UNKNOWN`, never guessed.  `display` is the
    path written into the locations (default: `path` as given).
    """
    file = Path(path)
    try:
        source = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(
            f"cannot read training script {file}: {exc}", hint="pass an existing Python file"
        ) from None
    try:
        tree = ast.parse(source, filename=str(file))
    except SyntaxError as exc:
        raise DataError(
            f"cannot parse training script {file}:{exc.lineno}: {exc.msg}",
            hint="relulint reads training scripts statically; fix the syntax error",
        ) from None
    finder = _OptimizerFinder(display or str(path))
    finder.visit(tree)
    return sorted(finder.calls, key=lambda c: (c.location.line, c.location.col))


# ---------------------------------------------------------------------------------- target statistics


RunningStats = ChunkedMoments  # the per-column moments, folded block by block (`relulint.datafiles`)


def target_std(spec: str, base_dir: Path | str = ".") -> float:
    """The standard deviation γ of the training targets in a file (`momentum` Eq. 1).

    `spec` is `y.npy`, `y.npz[:key]`, `y.pt[:key]` or `y.csv[:column]` (relative to `base_dir`).  For
    targets with several outputs (shape (N, k)) it is the *smallest* per-output standard deviation: each
    output is a regression target of its own in the paper's analysis.  See :func:`target_stats`.
    """
    return min(target_stats(spec, base_dir))


def target_stats(spec: str, base_dir: Path | str = ".") -> list[float]:
    """Per-output standard deviations of a targets file; raises `DataError` with a one-line message.

    Read by `relulint.datafiles` in blocks of about `CHUNK` values: `.npy` memory-mapped, `.npz` members
    decompressed as they are read, `.csv` streamed row by row, `.pt` loaded with `torch.load(weights_only=True,
    mmap=True)` (a tensor saved by `torch.save` is memory-mapped; the container must unpickle).
    """
    path, key = split_spec(spec, Path(base_dir))
    try:
        stats = array_moments(path, key, spec, what="targets file", chunk=CHUNK)
    except ValueError as exc:
        raise DataError(f"targets file {spec}: {exc}", hint="targets must be finite numbers") from None
    values = stats.stds()
    if not values or stats.n == 0:
        raise DataError(
            f"targets file {spec} holds no values", hint="point --targets at the training targets"
        )
    return values


# ---------------------------------------------------------------------------------------- config table

SECTION = "[tool.relulint.training]"


def training_from_config(table: Mapping[str, Any], base_dir: Path) -> tuple[TrainingFacts, str | None]:
    """Parse `[tool.relulint.training]`: the explicit training facts and the targets file, if any.

    Keys: `target-std` (number ≥ 0), `targets` (path, `y.npz:key`, `y.csv:column`; relative to the
    config's directory, returned absolute), `optimizer` (a `torch.optim` class name), `lr` (> 0),
    `momentum` (SGD / RMSprop momentum, or Adam's β1 when `betas` is not set; [0, 1)), `betas` ([β1, β2]
    for Adam-family), `dampening` ([0, 1]), `nesterov` (bool).  Each key is an option spec
    (`relulint.option_specs.TRAINING`), checked as its flag is.  An unknown key or a wrong type raises
    `ConfigError` naming the key.
    """
    from relulint.option_specs import TRAINING_TABLE, Source, config_specs, validate

    specs = config_specs(TRAINING_TABLE)
    for key in table:
        if key not in specs:
            close = difflib.get_close_matches(key, tuple(specs), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(specs)}"
            raise ConfigError(f"{SECTION}: unknown key {key!r}", hint=hint)
    if "target-std" in table and "targets" in table:
        raise ConfigError(
            f"{SECTION}: set either 'target-std' or 'targets', not both", hint="remove one of the two keys"
        )
    checked = {key: validate(specs[key], value, Source("config")) for key, value in table.items()}
    values: dict[str, Any] = {specs[key].name: value for key, value in checked.items() if key != "targets"}
    notes: list[str] = []
    if "target-std" in table:
        values["target_source"] = f"{SECTION} target-std"
    targets = _absolute_spec(checked["targets"], Path(base_dir)) if "targets" in checked else None
    if values:
        notes.append(f"{', '.join(k for k in table if k not in ('targets',))} from {SECTION}")
    sources = tuple((key, "config") for key in _OPTIMIZER_FIELDS if key in values)
    return TrainingFacts(**values, notes=tuple(notes), sources=sources), targets


# ------------------------------------------------------------------------------------ command line


def validate_cli_training(values: Mapping[str, Any]) -> dict[str, Any]:
    """The command line's training values, validated as `[tool.relulint.training]` is: `TrainingFacts` fields.

    `values` holds the flags as the CLI parsed them (`target_std`, `optimizer`, `lr`, `momentum`, as text
    or numbers; None or absent = not given; other keys are ignored).  Each is checked by its option spec
    (`relulint.option_specs.TRAINING`), the same check as the config's: a `UsageError` (one line and a
    hint) for `--target-std` < 0, `--lr` ≤ 0, `--momentum` outside [0, 1), a non-finite number, or an
    `--optimizer` that is not a `torch.optim` class (any case, `torch.optim.SGD` too).  The result also
    records in `sources` that these values came from the command line, which is what gives `--momentum`
    precedence over a configured or scripted Adam `betas` (:func:`resolve_beta1`).  Layer it over the
    config with :func:`merge_cli_training`.
    """
    from relulint.option_specs import TRAINING, from_cli

    out: dict[str, Any] = {}
    for spec in TRAINING:
        if spec.flag is not None and values.get(spec.name) is not None:
            out[spec.name] = from_cli(spec, values[spec.name])
    if "target_std" in out:
        out = {"target_std": out.pop("target_std"), "target_source": "--target-std", **out}
    sources = tuple((key, "cli") for key in _OPTIMIZER_FIELDS if key in out)
    if sources:
        out["sources"] = sources
    return out


def merge_cli_training(config: TrainingFacts, cli: Mapping[str, Any]) -> TrainingFacts:
    """Layer the command line (the dict of :func:`validate_cli_training`) over the config's facts.

    Precedence is CLI > config > script: a value given on the command line replaces the configured one
    (noted when they differ) and is marked "cli" in `sources`; for an Adam-family optimizer `--momentum`
    is β1 and beats a configured `betas` (:func:`resolve_beta1`, which also runs once the scripts are
    read, in :func:`gather_training_facts`).
    """
    given = {key: value for key, value in cli.items() if value is not None and key != "sources"}
    if not given:
        return config
    notes: list[str] = []
    for key, value in given.items():
        current = getattr(config, key, None)
        if key in _OPTIMIZER_FIELDS and current is not None and current != value:
            notes.append(f"{key}={value!r} (command line) overrides {key}={current!r} ({SECTION})")
    sources = dict(config.sources)
    sources.update(dict(cli.get("sources", ())))
    sources.update({key: "cli" for key in given if key in _OPTIMIZER_FIELDS})
    merged = replace(config, **given, sources=_pairs(sources))
    return resolve_beta1(_note(merged, *notes))


_OPTIMIZER_FIELDS = ("optimizer", "lr", "momentum", "betas", "dampening", "nesterov")


def _pairs(sources: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((key, sources[key]) for key in _OPTIMIZER_FIELDS if key in sources)


def source_of(facts: TrainingFacts, key: str) -> str | None:
    """Where `facts.<key>` came from (see `TrainingFacts.sources`); a set value with no entry is "config"."""
    recorded = dict(facts.sources).get(key)
    if recorded is not None:
        return recorded
    return "config" if getattr(facts, key, None) is not None else None


def is_unknown(facts: TrainingFacts, key: str) -> bool:
    """The value is written in the training script but is not a literal (or may hide in **kwargs)."""
    return (source_of(facts, key) or "").startswith("unknown")


def resolve_beta1(facts: TrainingFacts) -> TrainingFacts:
    """For an Adam-family optimizer, put the β1 the analysis uses into `betas[0]`: CLI > config > script.

    `--momentum` is documented as "Momentum (SGD, RMSprop) or Adam's beta1", and `[tool.relulint.training]`
    accepts `momentum` too.  The precedence, highest first:

    1. `momentum` from the command line;
    2. `betas` from the config (or set through the API);
    3. `momentum` from the config, when it sets no `betas`;
    4. `betas` from the training script (a literal, or PyTorch's default when the call does not write it);
    5. otherwise β1 stays what it is — unknown (a non-literal `betas`) or not given.

    β2 is kept from `betas` when known, else PyTorch's 0.999 (it does not enter the analysis).  Other
    optimizers are returned unchanged; so is a result of this function (idempotent).
    """
    if OPTIMIZER_FORMS.get(facts.optimizer or "") != "adam" or facts.momentum is None:
        return facts
    momentum_source = source_of(facts, "momentum")
    betas_source = source_of(facts, "betas")
    if momentum_source == "cli":
        wins = True
    elif momentum_source == "config":
        wins = betas_source not in ("config", "cli")
    else:
        wins = False
    if not wins:
        return facts
    beta1 = float(facts.momentum)
    if facts.betas is not None and facts.betas[0] == beta1 and betas_source == momentum_source:
        return facts  # already resolved
    beta2 = facts.betas[1] if facts.betas is not None and not is_unknown(facts, "betas") else 0.999
    flag = "--momentum" if momentum_source == "cli" else f"momentum ({SECTION})"
    if facts.betas is not None or is_unknown(facts, "betas"):
        where = betas_source if betas_source != "config" else SECTION
        if facts.location is not None and betas_source in ("script", "default", "unknown", "unknown-starred"):
            where = f"{facts.location.path}:{facts.location.line}"
        shown = "unknown" if is_unknown(facts, "betas") else repr(facts.betas)
        note = f"β1 = {beta1:g} from {flag} overrides betas={shown} ({where})"
    else:
        note = f"β1 = {beta1:g} from {flag}"
    assert momentum_source is not None  # it wins only from the command line or the config
    sources = dict(facts.sources)
    sources["betas"] = momentum_source
    return _note(replace(facts, betas=(beta1, float(beta2)), sources=_pairs(sources)), note)


def _absolute_spec(spec: str, base_dir: Path) -> str:
    path, key = split_spec(spec, base_dir)
    return str(path.resolve()) + (f":{key}" if key is not None else "")


# ---------------------------------------------------------------------------------------- combination


def gather_training_facts(options: Options, cwd: Path) -> TrainingFacts:
    """Combine explicit facts (config + CLI, `options.training`) with training scripts and a targets file.

    Precedence, per value: command line > `[tool.relulint.training]` > training script.  The CLI layer is
    :func:`merge_cli_training` (it marks its values "cli" in `sources`); here a script's optimizer fills
    what is still missing and gives the location (the first optimizer constructed, in the order the
    scripts are given — others are listed in `notes`), and :func:`resolve_beta1` applies the precedence
    to Adam's β1 (`--momentum` vs `betas`).  When `--optimizer` names a different optimizer than the
    script's, the script is ignored.  A script value that is not a literal stays None and is marked
    unknown in `sources` (never guessed).  The targets file sets `target_std` unless `--target-std` was
    given on the command line.
    """
    cwd = Path(cwd)
    facts = options.training
    calls = [call for script in options.scripts for call in _scan(script, cwd)]
    if calls:
        facts = merge_script_call(facts, calls[0])
        facts = _note(facts, *(f"also found {c.describe()} (not used)" for c in calls[1:]))
    elif options.scripts:
        facts = _note(facts, f"no torch.optim optimizer constructed in {', '.join(options.scripts)}")
    if options.targets_file:
        facts = merge_targets_file(facts, options.targets_file, cwd)
    return resolve_beta1(facts)


def _scan(script: str, cwd: Path) -> list[OptimizerCall]:
    path = Path(script) if Path(script).is_absolute() else cwd / script
    if not path.is_file():
        raise DataError(f"training script {script} not found", hint="pass an existing training script")
    return scan_training_script(path, display=_display(path, cwd))


def _display(path: Path, cwd: Path) -> str:
    try:
        return path.resolve().relative_to(cwd.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def merge_script_call(facts: TrainingFacts, call: OptimizerCall) -> TrainingFacts:
    """Fill the facts' missing fields from one optimizer call; explicit values win, unknowns stay None.

    Each value taken is marked in `sources`: "script" (a literal), "default" (PyTorch's default for an
    argument the call does not write), "unknown" / "unknown-starred" (not a literal / maybe in **kwargs).
    """
    where = f"{call.location.path}:{call.location.line}"
    if facts.optimizer is not None and facts.optimizer != call.optimizer:
        return _note(
            facts, f"{call.describe()} ignored: the optimizer is set to {facts.optimizer!r} explicitly"
        )
    sources = {key: source for key in _OPTIMIZER_FIELDS if (source := source_of(facts, key))}
    changes: dict[str, Any] = {"optimizer": call.optimizer, "location": call.location}
    sources.setdefault("optimizer", "script")
    notes = [f"optimizer {call.optimizer} from {where}"]
    for key, value in call.args.items():
        current = getattr(facts, key)
        if value is UNKNOWN:
            if current is None:
                starred = key not in call.given
                sources[key] = "unknown-starred" if starred else "unknown"
                how = "may be set through *args / **kwargs" if starred else "is not a literal"
                notes.append(f"{key} at {where} {how}: unknown")
            continue
        if current is not None:
            if current != value:
                label = "command line" if sources.get(key) == "cli" else "configured"
                notes.append(f"{key}={current!r} ({label}) overrides {key}={value!r} at {where}")
            continue
        changes[key] = float(value) if key in ("lr", "momentum", "dampening") else value
        if key == "betas":
            changes[key] = tuple(float(v) for v in value)
        given = key in call.given
        sources[key] = "script" if given else "default"
        notes.append(f"{key}={value!r} ({'given' if given else 'PyTorch default'}) from {where}")
    changes["sources"] = _pairs(sources)
    return _note(replace(facts, **changes), *notes)


def merge_targets_file(facts: TrainingFacts, spec: str, cwd: Path) -> TrainingFacts:
    """Set `target_std` from a targets file, unless `--target-std` was given on the command line."""
    if facts.target_std is not None and facts.target_source == "--target-std":
        return _note(facts, f"--target-std overrides the targets file {spec}")
    stds = target_stats(spec, cwd)
    std = min(stds)
    shown = _display(Path(spec), cwd) if Path(spec).is_absolute() else spec
    note = f"target std {std:.3g} from {shown}"
    if len(stds) > 1:
        note += f" (smallest of {len(stds)} outputs: {', '.join(f'{s:.3g}' for s in stds)})"
    return _note(replace(facts, target_std=std, target_source=shown), note)


def _note(facts: TrainingFacts, *notes: str) -> TrainingFacts:
    return replace(facts, notes=tuple(facts.notes) + tuple(notes)) if notes else facts
