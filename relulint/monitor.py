"""Watch a model while it trains: warn when a hidden ReLU layer dies (`collapse` Lemma 1, Thm 4).

    >>> from relulint.monitor import watch
    >>> with watch(model, every=100) as monitor:          # doctest: +SKIP
    ...     for x, y in loader:
    ...         loss = loss_fn(model(x), y); loss.backward(); opt.step(); opt.zero_grad()
    >>> monitor.events                                      # doctest: +SKIP

Forward hooks sit where relulint's extraction sees each hidden ReLU layer's output
(`relulint.audit.observe`; every `nn.ReLU` module when the model cannot be captured). Over each window of
`every` training-mode forward passes they add up, per unit, its ReLU outputs: the sum is zero exactly
when the unit was inactive on every input of the window (ReLU outputs are ≥ 0, and a sum of non-negative
floats is never rounded to zero). At the window's end:

- "dead-layer": a hidden layer was zero on every input of the window — the network is now constant
  (`collapse` Lemma 1), its earlier layers get no gradient (Lemma 3) and training can only take it to the
  targets' mean / median (Thm 4);
- "dead-units": the fraction of a layer's units dead over the window reached `dead_fraction`;
- "constant-output": the forward pass that closes the window gave the same output for all its inputs.

Each event is recorded in `.events` and warned once (`DeadReluWarning`); `raise_on="dead-layer"` raises
`DeadNetworkError` from the forward pass that closes the window, which stops the training loop. Eval-mode
forward passes (validation) are not counted. Cost per training step: one `sum` kernel per hidden layer (one
for all of them over their concatenation in a narrow chain), no copy of a large activation, nothing kept
past the forward pass: benchmarks/bench_monitor.py (goal ≤ 10 % of a step).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from relulint.audit.observe import (
    Site,
    detach_all,
    first_tensor,
    relu_module_sites,
    rows,
    sites,
    watched_module,
)

KINDS = ("dead-layer", "dead-units", "constant-output")
#: a pass's ReLU outputs are summed in one kernel over their concatenation up to this many values (a
#: narrow chain: one kernel instead of one per layer); above it the copy costs more than the launches
BATCH_LIMIT = 1 << 14


class DeadReluWarning(UserWarning):
    """A hidden ReLU layer (or many of its units) stopped responding to every input while training."""


class DeadNetworkError(RuntimeError):
    """Raised with `raise_on="dead-layer"` when a hidden layer is zero on every input of a window."""

    def __init__(self, event: MonitorEvent) -> None:
        super().__init__(event.message)
        self.event = event


@dataclass(frozen=True)
class MonitorEvent:
    """What the monitor saw at the end of a window (`step`: training-mode forward passes so far)."""

    step: int
    kind: str  # "dead-layer", "dead-units" or "constant-output"
    chain: int | None
    layer: int | None  # 0-based among the chain's hidden layers
    dead_fraction: float | None
    message: str


class _Counter:
    """Per-unit sums of one hidden layer's ReLU outputs over the current window (zero: dead).

    `pending` holds this forward pass's ReLU outputs (references only: autograd keeps them alive for the
    backward pass anyway) until the pass ends, when the monitor counts every layer's at once
    (`Monitor._flush`); `counts` holds per-unit sums already taken."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.pending: list[torch.Tensor] = []
        self.counts: list[torch.Tensor] = []
        self.last_fraction = 0.0

    def close_window(self) -> float | None:
        """The fraction of units inactive on every input of the window (None: the layer never ran)."""
        parts, self.counts = self.counts, []
        if not parts:
            return None
        total = parts[0] if len(parts) == 1 else torch.stack(parts).sum(dim=0)
        return float((total == 0).sum()) / max(1, total.numel())


def _hook(model: nn.Module, counter: _Counter, lazy: bool) -> Any:
    """A forward (pre-)hook that keeps the layer's ReLU output for `Monitor._flush` (`lazy`) or sums it
    over the inputs at once (one kernel per call)."""
    site = counter.site
    module = watched_module(model, site)
    if module is None:
        return None
    keep = counter.pending if lazy else None
    counts = counter.counts
    width = site.width
    if site.mode == "input":  # the next layer's input is the ReLU's output: active ⇔ non-zero

        def pre_hook(module: nn.Module, args: tuple[Any, ...]) -> None:
            if module.training and args and isinstance(args[0], torch.Tensor):
                x = args[0].detach()  # the sums must not join the autograd graph (nor keep it alive)
                x = x if x.dim() == 2 else rows(x, width)
                if keep is not None:
                    keep.append(x)
                else:
                    counts.append(x.sum(dim=0))

        return module.register_forward_pre_hook(pre_hook)
    relu = isinstance(module, nn.ReLU)

    def hook(module: nn.Module, _args: tuple[Any, ...], output: Any) -> None:
        if module.training and isinstance(output, torch.Tensor):
            values = output.detach() if output.dim() == 2 else rows(output, width)
            if relu and keep is not None:
                keep.append(values)
            else:  # a Linear's output is the pre-activation: its ReLU is values.clamp(min=0)
                counts.append((values if relu else values.clamp(min=0)).sum(dim=0))

    return module.register_forward_hook(hook)


def _find_sites(model: nn.Module) -> list[Site]:
    """The hidden layers relulint's extraction finds (capture → chains); every `nn.ReLU` if that fails."""
    try:
        from relulint.capture import capture
        from relulint.extract import extract_chains
        from relulint.load import from_module

        loaded = from_module(model)
        with torch.random.fork_rng(devices=[]):
            chains = extract_chains(loaded, capture(loaded))
        found = [site for chain in chains for site in sites(chain) if site.watch is not None]
    except Exception:  # noqa: BLE001 - any capture failure: fall back to the ReLU modules
        found = []
    return found or relu_module_sites(model)


class Monitor:
    """Forward hooks counting each hidden unit's activity per window of training steps (see the module)."""

    def __init__(
        self,
        model: nn.Module,
        every: int = 100,
        *,
        dead_fraction: float = 0.5,
        raise_on: str | Iterable[str] | None = None,
        warn: bool = True,
        count_steps: bool = True,
        sites: list[Site] | None = None,
    ) -> None:
        if every < 1:
            raise ValueError(f"every must be ≥ 1, got {every}")
        if not 0.0 < dead_fraction <= 1.0:
            raise ValueError(f"dead_fraction must be in (0, 1], got {dead_fraction}")
        chosen = {raise_on} if isinstance(raise_on, str) else set(raise_on or ())
        unknown = chosen - set(KINDS)
        if unknown:
            raise ValueError(
                f"raise_on: unknown event kind {sorted(unknown)[0]!r} (kinds: {', '.join(KINDS)})"
            )
        self.model = model
        self.every = every
        self.dead_fraction = dead_fraction
        self.raise_on = chosen
        self.warn = warn
        self.step = 0
        self.events: list[MonitorEvent] = []
        self._warned: set[tuple[str, int | None, int | None]] = set()
        self.sites = sites if sites is not None else _find_sites(model)
        self._counters = [_Counter(site) for site in self.sites]
        self._constant = False  # the output of the pass that closed the window was the same for all inputs
        self._batched: list[torch.Tensor] = []  # per pass: every layer's counts, taken in one kernel
        self._layout: list[int] | None = None  # the widths those counts are laid out in
        self._handles: list[Any] = [_hook(model, c, lazy=count_steps) for c in self._counters]
        if count_steps:
            self._handles.append(model.register_forward_hook(self._after_forward))

    # context manager ---------------------------------------------------------------------------------

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Remove every hook (the model is as it was)."""
        detach_all(self._handles)
        self._handles = []

    def close_and_sites(self) -> list[Site]:
        """Close, and return the layers it watched: `Monitor(model, sites=...)` reuses them without
        capturing the model again."""
        self.close()
        return list(self.sites)

    # hooks -------------------------------------------------------------------------------------------

    def _after_forward(self, module: nn.Module, _args: Any, output: Any) -> None:
        if not module.training:
            return
        if (self.step + 1) % self.every == 0:  # this pass closes the window: is its output constant?
            tensor = first_tensor(output)
            if tensor is not None and tensor.dim() and tensor.shape[0] > 1:
                values = rows(tensor, tensor.shape[-1])
                self._constant = bool((values == values[:1]).all())
            else:
                self._constant = False
        self._flush()
        self.advance()

    def _flush(self) -> None:
        """Sum this pass's kept ReLU outputs over the inputs: all layers in one kernel over their
        concatenation when they are small and each ran once on the same inputs (a narrow chain), else
        one per output."""
        pending = [c.pending for c in self._counters]
        small = sum(x.numel() for p in pending for x in p) <= BATCH_LIMIT
        if small and all(len(p) == 1 for p in pending) and len({p[0].shape[0] for p in pending}) == 1:
            layout = [p[0].shape[1] for p in pending]
            if layout != self._layout:
                self._unbatch()
                self._layout = layout
            self._batched.append(torch.cat([p[0] for p in pending], dim=1).sum(dim=0))
        else:
            for counter in self._counters:
                counter.counts += [x.sum(dim=0) for x in counter.pending]
        for p in pending:
            p.clear()

    def _unbatch(self) -> None:
        """Hand the counts taken for all layers at once to each layer (split by the layout they had)."""
        if self._batched and self._layout is not None:
            total = self._batched[0] if len(self._batched) == 1 else torch.stack(self._batched).sum(dim=0)
            for counter, share in zip(self._counters, torch.split(total, self._layout), strict=True):
                counter.counts.append(share)
        self._batched = []

    def advance(self) -> None:
        """Count one training step; close the window every `every` steps. The forward hook on the model
        calls it; a caller that made the monitor with `count_steps=False` (the Lightning callback, whose
        training_step may call a submodule rather than the module itself) calls it once per batch."""
        self.step += 1
        if self.step % self.every == 0:
            self._close_window()
            self._constant = False

    def _close_window(self) -> None:
        raised: MonitorEvent | None = None
        self._unbatch()
        for counter in self._counters:
            fraction = counter.close_window()
            if fraction is None:
                continue
            site = counter.site
            where = f"hidden layer {site.layer} ({site.module}) of chain #{site.chain}"
            if fraction == 1.0:
                event = self._event(
                    "dead-layer",
                    site,
                    fraction,
                    f"step {self.step}: {where} was zero on every input of the last {self.every} steps: the "
                    "network is now constant (collapse Lemma 1); its earlier layers get no gradient (Lemma 3) "
                    "and training can only reach the targets' mean (MSE) or median (MAE) (collapse Thm 4)",
                )
                raised = raised or (event if event and "dead-layer" in self.raise_on else None)
            elif fraction >= self.dead_fraction > counter.last_fraction:
                event = self._event(
                    "dead-units",
                    site,
                    fraction,
                    f"step {self.step}: {fraction:.0%} of the units of {where} were zero on every input of the "
                    f"last {self.every} steps (threshold {self.dead_fraction:.0%}): they get no gradient "
                    "(collapse Lemma 3, per unit)",
                )
                raised = raised or (event if event and "dead-units" in self.raise_on else None)
            counter.last_fraction = fraction
        if self._constant:
            event = self._event(
                "constant-output",
                None,
                None,
                f"step {self.step}: the output is the same for every input of the batch "
                "(collapse Lemma 1: a hidden layer is zero on every input)",
            )
            raised = raised or (event if event and "constant-output" in self.raise_on else None)
        if raised is not None:
            raise DeadNetworkError(raised)

    def _event(
        self, kind: str, site: Site | None, fraction: float | None, message: str
    ) -> MonitorEvent | None:
        chain = site.chain if site else None
        layer = site.layer if site else None
        key = (kind, chain, layer)
        if key in self._warned:
            return None
        self._warned.add(key)
        event = MonitorEvent(self.step, kind, chain, layer, fraction, message)
        self.events.append(event)
        if self.warn:
            warnings.warn(message, DeadReluWarning, stacklevel=2)
        return event


def watch(model: nn.Module, every: int = 100, **options: Any) -> Monitor:
    """A `Monitor` on `model` (a context manager; or call `.close()`); options: `dead_fraction=0.5`,
    `raise_on="dead-layer"`, `warn=True`."""
    return Monitor(model, every, **options)
