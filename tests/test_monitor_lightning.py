"""The Lightning callback, trained for real with `lightning.Trainer` (skipped where lightning is not
installed; CI installs it: pip install -e '.[test,lightning]')."""

from __future__ import annotations

import warnings

import pytest
import torch

pl = pytest.importorskip("lightning.pytorch")

from audit_helpers import MODEL, grid, last_layer_dead_seed  # noqa: E402

from relulint.lightning import DeadReluCallback  # noqa: E402
from relulint.monitor import DeadNetworkError  # noqa: E402


def net_cls():
    namespace: dict = {}
    exec(MODEL, namespace)
    return namespace["Net"]


class Regressor(pl.LightningModule):
    """training_step calls the wrapped net, not self(): the callback must still count batches."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def training_step(self, batch, batch_idx):
        x, y = batch
        return ((self.net(x) - y) ** 2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


def fit(net: torch.nn.Module, callback: DeadReluCallback, epochs: int) -> None:
    x = grid()
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.exp(x)), batch_size=67)
    trainer = pl.Trainer(
        max_epochs=epochs,
        callbacks=[callback],
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(Regressor(net), data)


def born_dead() -> torch.nn.Module:
    cls = net_cls()
    torch.manual_seed(last_layer_dead_seed(cls, grid()))
    return cls()


def test_the_callback_reports_the_dead_layer() -> None:
    callback = DeadReluCallback(every=3, warn=False)
    fit(born_dead(), callback, epochs=2)  # 3 batches per epoch
    kinds = {e.kind for e in callback.events}
    assert "dead-layer" in kinds and callback.monitor is None  # hooks removed at the end


def test_raise_on_stops_the_fit() -> None:
    callback = DeadReluCallback(every=3, raise_on="dead-layer", warn=False)
    with pytest.raises(DeadNetworkError):
        fit(born_dead(), callback, epochs=5)
    assert callback.events and callback.events[0].step == 3


def test_a_healthy_net_is_quiet() -> None:
    torch.manual_seed(0)
    callback = DeadReluCallback(every=3, warn=False)
    fit(net_cls()(width=32, depth=2), callback, epochs=2)
    assert callback.events == []
