"""The `relulint` command line (typer).

    relulint check [TARGET | FILE | DIR ...] [opts] lint models; exit 0 clean, 1 findings, 2 usage/user error
    relulint probe TARGET [options]                Monte-Carlo born-dead estimate of every chain
    relulint audit TARGET --weights FILE [options] a trained checkpoint: dead units, collapse, degeneracy
    relulint plot TARGET -o FILE.png|svg|pdf       the safe-region map (collapse Fig. 6B; matplotlib extra)
    relulint rules [--format json]                 the rule catalogue
    relulint rule CODE|NAME                        one rule's full docs
    relulint config [KEY] [--schema]               every option (or one); the JSON Schema of [tool.relulint]
    relulint --version

This module imports neither torch nor the pipeline at import time: a pre-commit run whose changed files
hold no model exits without paying for `import torch`.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from relulint import __version__
from relulint.cli_options import spec_options
from relulint.errors import RelulintError, UsageError
from relulint.options import Options
from relulint.output import Sink

app = typer.Typer(
    name="relulint",
    help="Catch deep, narrow ReLU networks that are born dead, before you train them.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

FORMATS = ("text", "concise", "json", "sarif", "github")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"relulint {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_callback(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """relulint: a linter for PyTorch models that catches ReLU networks born dead."""


# ------------------------------------------------------------------------------------ option parsing


@dataclass
class CliSettings:
    """What the command line said, before it is merged over the config."""

    overrides: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)


def load_options(cli: CliSettings, cwd: Path) -> tuple[Options, list[Any], Path | None]:
    """Defaults ← `[tool.relulint]` ← command line. Returns options, configured targets, config dir."""
    from relulint.config import load_config

    config = load_config(cwd)
    options = Options().replace(**config.options)
    from relulint.training import merge_cli_training

    training = merge_cli_training(options.training, cli.training) if cli.training else options.training
    overrides = dict(cli.overrides)
    selection = {name: overrides.pop(name) for name in SELECTION if name in overrides}
    options = options.replace(**overrides, training=training)
    if selection:
        options = options.replace(**merge_selection(options, selection))
    return options, list(config.targets), config.base_dir


SELECTION = ("select", "extend_select", "ignore")


def merge_selection(config: Options, cli: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """The command line's selectors layered over the config's, the ruff way ("Rule selection").

    `--select` replaces the config's selection entirely (its `select`, `extend-select` and `ignore`);
    `--extend-select` / `--ignore` alone edit the rules the config enables. The result is one layer of
    `Options` fields that `registry.enabled_rules` resolves to the same rules.
    """
    if cli.get("select"):
        return {name: tuple(cli.get(name, ())) for name in SELECTION}
    from relulint.registry import resolve_selection

    layers = [
        (config.select, config.extend_select, config.ignore),
        ((), cli.get("extend_select", ()), cli.get("ignore", ())),
    ]
    enabled = tuple(sorted(resolve_selection(layers)))
    # one layer naming the enabled rules exactly; nothing enabled: ignore everything
    return {"select": enabled, "extend_select": (), "ignore": () if enabled else ("RL",)}


def classify_arguments(arguments: list[str], configured: list[Any], cwd: Path) -> tuple[list[Any], list[str]]:
    """Split positional arguments into model targets and training scripts.

    `file.py:Name` and `pkg.module:Name` are targets. An existing file without `:` (a `.py` file, or a
    script without the suffix such as `bin/deploy`, which pre-commit tags `python` by its shebang) is
    read statically, without importing it: it is a target when it defines an `nn.Module` subclass, else
    a training script (scanned for torch optimizers) when it is a `.py` file or has a python shebang,
    and is ignored otherwise (pre-commit passes every changed file). A configured target whose file is
    among the arguments is checked too. A path that does not exist is a usage error.
    """
    from relulint.precommit import defines_modules, python_script, relevant_targets

    explicit: list[str] = []
    files: list[str] = []
    for argument in arguments:
        path = Path(argument) if Path(argument).is_absolute() else cwd / argument
        if ":" in argument.replace("\\", "/").split("/")[-1]:
            explicit.append(argument)
        elif path.is_file():
            files.append(argument)
        elif "/" in argument or "\\" in argument or argument.endswith((".py", ".pyi", ".txt")):
            problem = "is a directory" if path.is_dir() else "is not an existing file or a target"
            raise UsageError(
                f"{argument!r} {problem}", hint="relulint check model.py (every module in it) or model.py:Net"
            )
        else:
            explicit.append(argument)  # `pkg.module`: the target parser says what is missing
    targets: list[Any] = list(explicit)
    relevant = relevant_targets(files, configured, cwd=cwd)
    targets += relevant
    precommit = bool(os.environ.get("PRE_COMMIT"))  # pre-commit sets it while a hook runs
    scripts = []
    for name in files:
        path = Path(name) if Path(name).is_absolute() else cwd / name
        if not (path.suffix == ".py" or python_script(path)):
            continue
        optimizers = _constructs_optimizer(path)
        if optimizers:
            scripts.append(name)  # a training script (a Lightning-style file may also define the model)
        elif not precommit and not defines_modules(path) and not _names_file(relevant, name):
            # named on the command line and not a training script: import it, so that an exception in it,
            # or a model the static scan cannot see (a subclass of an imported model), is not missed
            targets.append(name)
    named = {str(spec).rsplit(":", 1)[0] for spec in explicit if ":" in str(spec)}
    # `relulint check train.py:Net train.py`: the model is named; train.py is read as the training script
    targets = [t for t in targets if not (isinstance(t, str) and t in scripts and t in named)]
    return targets, scripts


def _constructs_optimizer(path: Path) -> bool:
    from relulint.errors import RelulintError
    from relulint.training import scan_training_script

    try:
        return bool(scan_training_script(path))
    except RelulintError:  # unreadable or unparsable: the loader reports it when the file is a target
        return False


def _names_file(targets: list[Any], name: str) -> bool:
    return any(str(getattr(t, "spec", t)).split(":")[0] == name for t in targets)


def build_report(
    arguments: list[str], cli: CliSettings, sink: Sink, baseline: bool = True
) -> tuple[Any, Options]:
    """Check what the arguments name (`relulint check` and `relulint plot`): the `Report`, or None when
    nothing is there to check (a note says so). Directories are read by `relulint.discover`; with no
    argument and no configured target, `.` is checked. `baseline=False`: every finding is kept."""
    cwd = Path.cwd()
    options, configured, _base = load_options(cli, cwd)
    if not baseline:
        options = options.replace(baseline=None)  # accept every finding, not only those new to the old file
    directories = (
        [a for a in arguments if _is_directory(a, cwd)] if arguments else [] if configured else ["."]
    )
    named = _force_excluded([a for a in arguments if a not in directories], options.exclude, cwd)
    if arguments and not directories and not named:
        sink.note("nothing to check: every file given matches an `exclude` pattern (pre-commit)")
        return None, options
    discovered: list[Any] = []
    if directories:
        from relulint.discover import discover

        found = discover(directories, configured, cwd=cwd, include=options.include, exclude=options.exclude)
        discovered = found.targets
        if not discovered and not named:
            where = ", ".join(directories)
            sink.note(
                f"nothing to check: no nn.Module subclass in the {len(found.files)} Python file(s) under {where}"
            )
            return None, options
    if named:
        targets, scripts = classify_arguments(named, configured, cwd)
        targets = discovered + [t for t in targets if t not in discovered]
        if not targets:
            sink.note(f"nothing to check: no nn.Module defined in the {len(arguments)} file(s) given")
            return None, options
    else:
        targets, scripts = discovered or configured, []
    options = options.replace(scripts=tuple(options.scripts) + tuple(scripts))
    from relulint.api import check

    specs = [_target_spec(t, options, cwd) for t in targets]
    keep_going = bool(directories) or len(specs) > 1  # one bad target of several never hides the others
    report = _with_progress(
        lambda progress: check(*specs, options=options, cwd=cwd, progress=progress, keep_going=keep_going),
        sink,
        total=len(specs),
    )
    if not os.environ.get("PRE_COMMIT"):  # the hook keeps skipping such files (with a warning)
        # a file named on the command line must build a model; in a directory such a file is a skip
        _require_a_model_per_file(report, among=_named_files(named, cwd) if directories else None)
    return report, options


def _force_excluded(named: list[str], exclude: Sequence[str], cwd: Path) -> list[str]:
    """Under pre-commit (``PRE_COMMIT`` set), the files it passes that `exclude` matches (the file or a
    directory between the working directory and it) are left out, as in a directory run: the hook passes
    every changed file, so ``exclude`` is the way to keep one out (ruff's hook does the same with
    ``--force-exclude``). Named on the command line otherwise, a file is checked: the user asked for it."""
    if not os.environ.get("PRE_COMMIT") or not exclude:
        return named
    from relulint.discover import excluded

    root = cwd.resolve()
    kept = []
    for argument in named:
        path = (cwd / argument).resolve()  # an absolute argument stays itself
        if path.is_file() and path.is_relative_to(root) and excluded(path, root, exclude, cwd):
            continue
        kept.append(argument)
    return kept


def run_check(
    arguments: list[str],
    cli: CliSettings,
    fmt: str,
    output: Path | None,
    statistics: bool,
    write_baseline: Path | None,
    command: str = "check",
    plot: Path | None = None,
) -> int:
    """The body of `relulint check`: returns the exit code."""
    sink = Sink(fmt=fmt, output=output)
    report, options = build_report(arguments, cli, sink, baseline=write_baseline is None)
    if report is None:
        return 0
    if write_baseline is not None:
        from relulint.baseline import write_baseline as write

        count = write(report, write_baseline)
        sink.note(f"wrote {count} finding(s) to baseline {write_baseline}")
    for skipped in report.skipped:
        sink.warn(f"skipped {skipped.name}: {skipped.reason}")
    sink.emit_report(report, options=options, statistics=statistics)
    if not report.targets and report.skipped:
        sink.warn("no model was checked: every nn.Module found was skipped")
    elif not report.targets and not report.failures:
        sink.note(
            "nothing to check: no nn.Module class is defined there; a function that returns a model is "
            "checked by name (file.py:make_model)"
        )
    if plot is not None:
        from relulint.plot import save_report_plot

        save_report_plot(report, plot, options=options, title=_plot_title(arguments, report))
        sink.note(f"wrote the safe-region map to {plot}")
    if report.failures:  # each is one line of the report; every other target was checked
        _failures_note(report, fmt)
        return 2
    if report.failed(options.fail_on) and not options.exit_zero and write_baseline is None:
        return 1
    return 0


def _plot_title(arguments: list[str], report: Any) -> str:
    """The map's title: the arguments as given, else the targets checked (configured ones, or `.`)."""
    text = " ".join(arguments) or ", ".join(dict.fromkeys(t.target for t in report.targets)) or "."
    return text if len(text) <= 60 else text[:59] + "…"


def _failures_note(report: Any, fmt: str = "text") -> None:
    """The closing error of a run in which some targets failed (exit 2); with --format concise, whose
    stdout holds findings only, each failure on stderr too."""
    if fmt == "concise":
        for failure in report.failures:
            Sink.warn(f"could not check {failure.path}: {failure.message}")
    Sink.error(
        UsageError(
            f"{len(report.failures)} target(s) could not be checked (listed in the report)",
            hint="fix the import, or leave the file out: --exclude PATTERN or [tool.relulint] exclude",
        )
    )


def _is_directory(argument: str, cwd: Path) -> bool:
    path = Path(argument) if Path(argument).is_absolute() else cwd / argument
    return ":" not in argument.replace("\\", "/").split("/")[-1] and path.is_dir()


def _named_files(named: list[str], cwd: Path) -> set[str]:
    """The display paths of the files named on the command line (as the report's locations write them)."""
    from relulint.precommit import split_spec
    from relulint.sandbox import display_path

    return {display_path(cwd / split_spec(name)[0], cwd=cwd) for name in named}


def _require_a_model_per_file(report: Any, among: set[str] | None = None) -> None:
    """A file whose nn.Module classes were all skipped (they need arguments) is exit 2, not a pass; with
    `among`, only for those files (`relulint check DIR file.py`: a discovered file is a skip)."""
    checked = {t.path for t in report.targets}
    skipped: dict[str, list[Any]] = {}
    for item in report.skipped:
        skipped.setdefault(item.location.path, []).append(item)
    for path, items in skipped.items():
        if among is not None and path not in among:
            continue
        if path not in checked:
            from relulint.load import nothing_built_error

            raise nothing_built_error(path, items)


def _target_spec(item: Any, options: Options, cwd: Path) -> Any:
    """A configured target may be a string or a table (`target`, `kwargs`, `input-shape`); a script
    without the `.py` suffix (`bin/deploy`, `bin/deploy:Net`) becomes a `Target` record for its file."""
    if isinstance(item, str):
        return _script_target(item, options, cwd) or item
    if hasattr(item, "spec"):
        return item
    from relulint.target import parse_target

    shape = item.get("input-shape")
    return parse_target(
        item["target"],
        kwargs=item.get("kwargs") or {},
        input_shape=(shape if isinstance(shape, dict) else tuple(shape)) if shape else None,
        input_dtype=item.get("input-dtype"),
    )


def _script_target(spec: str, options: Options, cwd: Path) -> Any:
    """`Target` for an existing file without the `.py` suffix (parse_target takes only `.py` files)."""
    from relulint.precommit import split_spec

    location, name = split_spec(spec)
    path = Path(location) if Path(location).is_absolute() else cwd / location
    if location.endswith(".py") or not path.is_file():
        return None
    from relulint.records.loaded import Target

    return Target(
        spec=spec,
        path=path.resolve(),
        name=name,
        kwargs=dict(options.kwargs),
        input_shape=options.input_shape,
        input_dtype=options.input_dtype,
    )


#: more targets than this get a progress bar (on stderr, when it is a terminal)
FEW_TARGETS = 3


def _with_progress(work: Any, sink: Sink, total: int = 1) -> Any:
    """Run `work(progress)` with a status line on stderr when it is a terminal, a progress bar over the
    targets when there are more than a few."""
    if total > FEW_TARGETS and _stderr_is_terminal():
        return _with_progress_bar(work, total)
    if not sink.interactive:
        return work(None)
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("relulint: loading", spinner="dots") as status:
        return work(lambda text: status.update(f"relulint: {text}"))


def _stderr_is_terminal() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


def _with_progress_bar(work: Any, total: int) -> Any:
    """`work(progress)` under a rich progress bar on stderr (removed when done); a target counts as done
    when the next one starts loading (`relulint.api.LOADING`)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from relulint.api import LOADING

    columns = (TextColumn("relulint"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(
        *columns, TextColumn("{task.description}"), console=Console(stderr=True), transient=True
    ) as bar:
        task = bar.add_task("", total=total)
        started = 0

        def progress(text: str) -> None:
            nonlocal started
            if text.startswith(LOADING):
                if started:
                    bar.advance(task)
                started += 1
            bar.update(task, description=text)

        result = work(progress)
        bar.update(task, completed=total)
        return result


def guarded(body: Any, debug: bool = False) -> None:
    """Run a command body: relulint errors are exit 2 with a one-line message and a hint; anything
    unforeseen is an internal error, exit 2 too (exit 1 means findings), its traceback shown with --debug.

    In the console script (`main`) stdout is claimed first: the report goes to a duplicate of the
    original stdout, and everything else written to stdout, by the user's code too, goes to stderr.
    """
    from relulint.output import claim_stdout

    try:
        claim_stdout()
        code = body()
    except RelulintError as error:
        Sink.error(error)
        raise typer.Exit(2) from None
    except KeyboardInterrupt as interrupt:
        _interrupted(interrupt)
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as error:
        Sink.internal_error(error, debug=debug or _debug_wanted())
        raise typer.Exit(2) from None
    raise typer.Exit(code)


def _interrupted(interrupt: KeyboardInterrupt) -> None:
    """What a Ctrl-C (or a KeyboardInterrupt raised by the user's code) stopped, on stderr."""
    partial = getattr(interrupt, "result", None)  # relulint.probe.ProbeInterrupted
    if partial is not None:
        from relulint.render.probe import probe_summary_lines

        lines = probe_summary_lines(partial, label="partial probe")
        sys.stderr.write("".join(f"relulint: {line}\n" for line in lines))
    where = getattr(interrupt, "relulint_where", None)  # relulint.sandbox.user_code: the user's file
    sys.stderr.write(f"relulint: interrupted{' ' + where if where else ''}\n")


#: a write to a stream failed: a full disk, a closed pipe, a bad descriptor, an I/O error
STREAM_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ENOSPC", "EPIPE", "EBADF", "EIO", "EDQUOT") if hasattr(errno, name)
)


def _drop_stdout() -> None:
    """After a failed write to stdout: discard what is still buffered, so that the interpreter's exit does
    not try (and complain) again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _debug_wanted() -> bool:
    return "--debug" in sys.argv[1:] or os.environ.get("RELULINT_DEBUG", "") not in ("", "0")


DEBUG_HELP = "Show relulint's own traceback on an internal error."


# ------------------------------------------------------------------------------------------ commands


@app.command("check")
@spec_options("check")
def check_command(
    targets: list[str] = typer.Argument(
        None, help="file.py:Name, pkg.module:Name, file.py (every module in it), or training scripts."
    ),
    fmt: str = typer.Option("text", "--format", "-f", help="text, concise, json, sarif or github."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the report to this file."),
    statistics: bool = typer.Option(False, "--statistics", help="Count findings per rule."),
    write_baseline: Path = typer.Option(None, "--write-baseline", help="Accept today's findings into FILE."),
    plot: Path = typer.Option(
        None, "--plot", help="Also draw the safe-region map to FILE (.png, .svg, .pdf)."
    ),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
    **options: Any,  # one flag per option spec (relulint.option_specs), added by @spec_options
) -> None:
    """Lint models: exit 0 when clean, 1 on findings at or above --fail-on, 2 on a usage or user-code error."""
    given = {"fmt": fmt, **options}

    def body() -> int:
        cli = collect_cli(**given)
        if plot is not None:
            from relulint.plot import check_plot_path

            check_plot_path(plot)  # before the models are built: a missing matplotlib is exit 2 at once
        return run_check(list(targets or []), cli, fmt, output, statistics, write_baseline, plot=plot)

    guarded(body, debug)


def collect_cli(**values: Any) -> CliSettings:
    """Turn the typer parameters into `Options` overrides (only those the user gave), each read and
    checked by its option's kind (`relulint.option_specs`): the same check as the config and the API."""
    from relulint.option_specs import from_cli, option_specs

    fmt = values.pop("fmt", "text")
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}", hint=f"--format one of: {', '.join(FORMATS)}")
    cli = CliSettings()
    for spec in option_specs():
        value = values.get(spec.name)
        if spec.flag is None or value is None or value is False or value == []:
            continue  # not given: the config (or the default) stands
        cli.overrides[spec.name] = from_cli(spec, value)
    from relulint.training import validate_cli_training

    cli.training.update(validate_cli_training(values))
    return cli


@app.command("probe")
@spec_options("probe")
def probe_command(
    target: str = typer.Argument(..., help="file.py:Name or pkg.module:Name."),
    fmt: str = typer.Option("text", "--format", "-f", help="text or json."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the report to this file."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
    **options: Any,  # one flag per option spec that `probe` takes, added by @spec_options
) -> None:
    """Monte-Carlo estimate of the born-dead probability of every ReLU chain (`dying` Eq. 3.1)."""
    given = dict(options)

    def body() -> int:
        if fmt not in ("text", "json"):
            raise UsageError(f"unknown format {fmt!r} for probe", hint="--format text or json")
        cli = collect_cli(**given)
        cli.overrides["probe_all"] = True
        options, _configured, _base = load_options(cli, Path.cwd())
        sink = Sink(fmt=fmt, output=output)
        from relulint.api import check

        report = _with_progress(lambda progress: check(target, options=options, progress=progress), sink)
        sink.emit_probe(report, options=options)
        return 0

    guarded(body, debug)


@app.command("audit")
@spec_options("audit")
def audit_command(
    targets: list[str] = typer.Argument(
        ..., help="file.py:Name or pkg.module:Name: the trained model's class."
    ),
    fmt: str = typer.Option("text", "--format", "-f", help="text, concise, json, sarif or github."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the report to this file."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
    **options: Any,  # one flag per option spec that `audit` takes (--weights, --data, --targets, --loss, ...)
) -> None:
    """Audit a trained checkpoint: dead units, a collapsed network and the constant it converged to
    (collapse Thm 4), degenerate units. Exit 0 clean, 1 findings at or above --fail-on, 2 on an error."""
    given = {"fmt": fmt, **options}

    def body() -> int:
        cli = collect_cli(**given)
        options, _configured, _base = load_options(cli, Path.cwd())
        sink = Sink(fmt=fmt, output=output)
        from relulint.audit import audit

        report = _with_progress(lambda progress: audit(*targets, options=options, progress=progress), sink)
        for skipped in report.skipped:
            sink.warn(f"skipped {skipped.name}: {skipped.reason}")
        sink.emit_report(report, options=options)
        if report.failed(options.fail_on) and not options.exit_zero:
            return 1
        return 0

    guarded(body, debug)


@app.command("plot")
@spec_options("check")
def plot_command(
    targets: list[str] = typer.Argument(
        None, help="What `relulint check` takes: file.py:Name, pkg.module:Name, file.py or a directory."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="The picture: FILE.png, FILE.svg or FILE.pdf."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
    **options: Any,  # the flags of `relulint check` (relulint.option_specs), added by @spec_options
) -> None:
    """Draw the safe-region map (collapse Fig. 6B): depth against width, shaded by the Thm 8 bound, the
    Eq. 5 lines at p and 10·p, and each chain of the model; needs matplotlib (relulint's plot extra)."""
    given = dict(options)

    def body() -> int:
        from relulint.plot import check_plot_path, save_report_plot

        check_plot_path(output)  # before any model is built: a missing matplotlib is exit 2 at once
        cli = collect_cli(**given)
        sink = Sink(fmt="text")
        arguments = list(targets or [])
        report, opts = build_report(arguments, cli, sink)
        if report is None:
            return 0
        for skipped in report.skipped:
            sink.warn(f"skipped {skipped.name}: {skipped.reason}")
        for failure in report.failures:
            sink.warn(f"could not check {failure.path}: {failure.message}")
        save_report_plot(report, output, options=opts, title=_plot_title(arguments, report))
        sink.note(f"wrote the safe-region map of {len(report.targets)} model(s) to {output}")
        if report.failures:
            _failures_note(report)
            return 2
        return 0

    guarded(body, debug)


@app.command("config")
def config_command(
    key: str = typer.Argument(None, help="One option (config key, flag or name): show it in full."),
    schema: bool = typer.Option(False, "--schema", help="Print the JSON Schema of [tool.relulint]."),
    fmt: str = typer.Option("text", "--format", "-f", help="text, json or markdown (the README's table)."),
) -> None:
    """List every option: type, default, where it can be set, what it does."""

    def body() -> int:
        from relulint import option_docs

        if schema:
            text = option_docs.schema_text()
        elif key is not None:
            text = option_docs.describe(option_docs.find_spec(key))
        elif fmt == "text":
            text = option_docs.listing()
        elif fmt == "json":
            import json

            text = json.dumps(option_docs.records(), indent=2, ensure_ascii=False) + "\n"
        elif fmt == "markdown":
            text = option_docs.markdown()
        else:
            raise UsageError(f"unknown format {fmt!r} for config", hint="--format text, json or markdown")
        Sink(fmt="json").write(text)
        return 0

    guarded(body)


@app.command("rules")
def rules_command(
    fmt: str = typer.Option("text", "--format", "-f", help="text or json."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """List every rule: code, name, severity, summary."""

    def body() -> int:
        if fmt not in ("text", "json"):
            raise UsageError(f"unknown format {fmt!r} for rules", hint="--format text or json")
        Sink(fmt=fmt).emit_rules()
        return 0

    guarded(body, debug)


@app.command("rule")
def rule_command(
    code: str = typer.Argument(..., help="A rule code (RL101) or name (born-dead-relu-chain)."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Show one rule's full documentation."""

    def body() -> int:
        from relulint.registry import all_rules, find_rule

        rule = find_rule(code)
        if rule is None:
            known = ", ".join(all_rules())
            raise UsageError(f"no rule {code!r}", hint=f"rules are: {known} (relulint rules)")
        Sink(fmt="text").emit_rule_doc(rule)
        return 0

    guarded(body, debug)


def main() -> None:
    """Console-script entry point: the report on stdout is the report (`relulint.output.claim_stdout`),
    nothing escapes as a raw traceback (exit 2; 130 for Ctrl-C), and what a run imports is frozen for
    the garbage collector (`relulint.runcache.freeze_imports`)."""
    from relulint.output import enable_stdout_guard
    from relulint.runcache import enable_freeze

    enable_stdout_guard()
    enable_freeze()
    try:
        app()
    except KeyboardInterrupt as interrupt:  # outside a command body (while typer parses, say)
        _interrupted(interrupt)
        sys.exit(130)
    except OSError as error:  # outside a command body only --help, --version and usage text are written
        if error.errno not in STREAM_ERRNOS:
            Sink.internal_error(error, debug=_debug_wanted())
            sys.exit(2)
        _drop_stdout()
        Sink.error(UsageError(f"cannot write to stdout: {error.strerror}", hint="check where stdout goes"))
        sys.exit(2)
    except Exception as error:
        Sink.internal_error(error, debug=_debug_wanted())
        sys.exit(2)


if __name__ == "__main__":
    main()
