"""Where the probe runs: ``--device auto|cpu|cuda|cuda:N``, with a CPU fallback and a note."""

from __future__ import annotations

import re

import torch

from relulint.errors import UsageError

_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def parse_device(text: str | None) -> str:
    """Validate ``--device``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (any case, spaces trimmed); the
    normalized text, or `UsageError`. Never touches CUDA (the GPU is looked for when the probe runs)."""
    value = (text or "auto").strip().lower()
    if not _DEVICE.fullmatch(value):
        raise UsageError(f"unknown device {text!r}", hint="--device auto, cpu, cuda or cuda:N (e.g. cuda:0)")
    return value


def resolve_device(device: str | None = "auto") -> tuple[torch.device, str | None]:
    """``auto`` → CUDA when available, else CPU; ``cuda`` / ``cuda:N`` without that GPU → CPU with a note
    (never an error). An unknown name is a `UsageError` (`parse_device`)."""
    text = parse_device(device)
    if text == "auto":
        return (torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")), None
    if text == "cpu":
        return torch.device("cpu"), None
    if not torch.cuda.is_available():
        return torch.device("cpu"), "no CUDA device; ran on CPU"
    index, count = int(text.partition(":")[2] or 0), torch.cuda.device_count()
    if index >= count:
        return torch.device("cpu"), f"no CUDA device {index} ({count} present); ran on CPU"
    return torch.device(text), None
