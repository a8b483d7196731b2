"""The command line's option flags, declared from the option specs (`relulint.option_specs`).

`@spec_options("check")` adds one typer option per spec that the subcommand takes, with the spec's flag,
help, default (shown as "[default: …]") and metavar, to the command function's own parameters (its
arguments and the flags that are not options, such as `--format`). Every value flag is read as text and
checked by the option's kind, so `--samples 1.5`, `--p high` or `--timeout nan` get the same one-line error
as the config and the API, not typer's usage box.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import typer

from relulint.option_specs import OptionSpec, cli_specs


def option_help(spec: OptionSpec) -> str:
    """The flag's help: the spec's one line, then its default (rich markup escaped)."""
    default = spec.default
    if default is None or default is False or default in ((), {}):
        shown = spec.kind.show(default) if spec.name == "domain" else None  # an unset domain means ±√3
    else:
        shown = spec.kind.show(default)
    return spec.help + (f" \\[default: {shown}]" if shown is not None else "")


def _parameter(spec: OptionSpec) -> inspect.Parameter:
    assert spec.flag is not None
    if spec.kind.is_flag:
        annotation: Any = bool
        info = typer.Option(False, spec.flag, help=option_help(spec))
    else:
        annotation = list[str] if spec.kind.multiple else str
        info = typer.Option(None, spec.flag, help=option_help(spec), metavar=spec.kind.metavar)
    return inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)


def spec_options(command: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a typer command the flags of every option `command` takes (the function gets them as kwargs)."""

    def decorate(function: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(function, eval_str=True)  # annotations as types, not strings
        own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        added = [_parameter(spec) for spec in cli_specs(command)]
        clash = {p.name for p in own} & {p.name for p in added}
        assert not clash, f"{function.__name__} declares {clash} by hand; they come from the option specs"

        @functools.wraps(function)
        def command_function(**values: Any) -> None:
            function(**values)

        del command_function.__wrapped__  # typer must see the signature below, not the function's own
        command_function.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
        command_function.__annotations__ = {
            **{p.name: p.annotation for p in own},
            **{p.name: p.annotation for p in added},
            "return": None,
        }
        return command_function

    return decorate
