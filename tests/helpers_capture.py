"""Helpers for the capture / extract tests: wrap a module in a `LoadedModel` and run the two stages."""

from __future__ import annotations

from typing import Any

from relulint.capture import capture
from relulint.extract import extract_chains
from relulint.records.captured import Capture
from relulint.records.loaded import LoadedModel, Target
from relulint.records.location import Location
from relulint.records.model_facts import Chain


def loaded_model(module: Any, path: str = "x.py", name: str | None = None) -> LoadedModel:
    """A `LoadedModel` around a built module (no construction sites recorded)."""
    return LoadedModel(
        target=Target(spec="t"),
        name=name or type(module).__name__,
        module=module,
        path=path,
        location=Location(path, 1),
        module_locations={},
    )


def capture_of(module: Any, path: str = "x.py", input_shape: tuple[int, ...] | None = None) -> Capture:
    return capture(loaded_model(module, path), input_shape=input_shape)


def chains_of(
    module: Any, path: str = "x.py", input_shape: tuple[int, ...] | None = None
) -> tuple[Capture, tuple[Chain, ...]]:
    """The capture and the chains of `module`."""
    loaded = loaded_model(module, path)
    captured = capture(loaded, input_shape=input_shape)
    return captured, extract_chains(loaded, captured)


def summary(chains: tuple[Chain, ...]) -> list[tuple[int, tuple[int, ...], int, str]]:
    """(input_dim, hidden_widths, output_dim, end) per chain: compact to assert on."""
    return [(c.input_dim, c.hidden_widths, c.output_dim, c.end) for c in chains]
