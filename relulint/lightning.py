"""A PyTorch Lightning callback around `relulint.monitor.Monitor` (needs `lightning` or
`pytorch_lightning`: ``pip install 'relulint[lightning]'``).

    >>> from relulint.lightning import DeadReluCallback
    >>> trainer = lightning.Trainer(callbacks=[DeadReluCallback(every=100, raise_on="dead-layer")])  # doctest: +SKIP

The monitor's hooks go on the LightningModule's hidden ReLU layers when fitting starts and come off when
it ends; a window is `every` training batches (`on_train_batch_end` advances it, since `training_step`
may call a submodule rather than the module's own forward). Events are in `.events`; with `raise_on`,
`DeadNetworkError` stops the fit. "constant-output" needs the module's own forward and is not reported
here ("dead-layer" says the same: a layer zero on every input makes the output constant, `collapse`
Lemma 1).
"""

from __future__ import annotations

from typing import Any

try:
    import lightning.pytorch as pl
except ImportError:  # the older package name
    import pytorch_lightning as pl  # type: ignore[no-redef]

from relulint.monitor import Monitor, MonitorEvent


class DeadReluCallback(pl.Callback):
    """Warn (or stop) when a hidden ReLU layer dies while the LightningModule trains."""

    def __init__(
        self, every: int = 100, *, dead_fraction: float = 0.5, raise_on: Any = None, warn: bool = True
    ) -> None:
        super().__init__()
        self.options = dict(dead_fraction=dead_fraction, raise_on=raise_on, warn=warn)
        self.every = every
        self.monitor: Monitor | None = None
        self._events: list[MonitorEvent] = []

    @property
    def events(self) -> list[MonitorEvent]:
        return self.monitor.events if self.monitor is not None else self._events

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self.monitor = Monitor(pl_module, self.every, count_steps=False, **self.options)

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.monitor is not None:
            self.monitor.advance()

    def _close(self) -> None:
        if self.monitor is not None:
            self._events = list(self.monitor.events)
            self.monitor.close()
            self.monitor = None

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        self._close()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._close()
