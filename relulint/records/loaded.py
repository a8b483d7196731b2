"""The records of the load stage: what the user asked to lint and what relulint built from it.

    Target ──load──► LoadedModel (with its InitEvents) | Skipped | Failure

`Target` is made by `relulint.target` from the command line or the config; `relulint.load` (with
`relulint.import_user`, `relulint.sites` and `relulint.init_recorder`) turns it into a `LoadedModel`, or a
`Skipped` module it could not build; `relulint.api` records a target whose import or build raised as a
`Failure`. The capture stage reads `LoadedModel`; `Skipped` and `Failure` go straight into the `Report`.
`LoadedModel` is the only record that holds a live torch object (the user's module).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relulint.records.location import Location


@dataclass(frozen=True)
class Target:
    """What the user asked to lint: `file.py:Name`, `pkg.module:Name` or `file.py` (every module in it)."""

    spec: str
    path: Path | None = None  # the file, when the target names one (resolved)
    module: str | None = None  # dotted module name, when the target names one
    name: str | None = None  # class or factory name; None = every nn.Module subclass in the file
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    # example input of the capture: one shape (batch included) for every forward argument, or one per name
    input_shape: tuple[int, ...] | Mapping[str, tuple[int, ...]] | None = None
    input_dtype: str | Mapping[str, str] | None = None  # "int64" (token ids), ...; or one per argument name

    @property
    def display(self) -> str:
        return self.spec


@dataclass(frozen=True)
class InitEvent:
    """One initialization applied to one parameter while the model was built (`relulint.init_recorder`)."""

    param: str  # qualified parameter name, e.g. "layers.0.weight"
    kind: str  # "kaiming_uniform", "normal", "uniform", "orthogonal", "constant", "zeros", "copy", ...
    args: Mapping[str, Any]
    source: str  # "nn.init", "tensor-method", "reset_parameters", "apply"
    location: Location | None = None


@dataclass(frozen=True)
class LoadedModel:
    """A built model and where its parts came from in the user's code."""

    target: Target
    name: str  # the class or factory name
    module: Any  # torch.nn.Module (Any so that this file needs no torch import)
    path: str  # the user's file, relative to the working directory when possible
    location: Location  # where the class / factory is defined
    module_locations: Mapping[str, Location]  # qualified submodule name ("" = root) → construction site
    init_events: tuple[InitEvent, ...] = ()
    rebuild: Any = None  # zero-argument callable building a fresh model (same class/factory and kwargs)


@dataclass(frozen=True)
class Skipped:
    """A module in a file that relulint could not lint, and why (e.g. its constructor needs arguments)."""

    name: str
    reason: str
    location: Location | None = None


@dataclass(frozen=True)
class Failure:
    """A target that failed while the others were checked (`relulint check DIR`): its import or its model
    raised. One line in the report; the run still ends with exit code 2."""

    target: str
    path: str
    message: str
    hint: str | None = None
