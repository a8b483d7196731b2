"""Where a hidden ReLU layer's output can be seen in a running model, and hooks that count its units.

A hidden layer `i` of a chain (`relulint.records.model_facts.Chain`) is observed at the *input of the next affine
layer* of the chain (a forward pre-hook on it): that input is the ReLU's output whatever sits between
(a norm before the ReLU, dropout, a functional `F.relu`), so a unit is active on an input exactly when its
entry there is non-zero. Where there is no next layer (a ReLU on the chain's last layer) or a norm after
the ReLU changes the values, the layer's own affine output is observed instead when no norm sits before
the ReLU (then active ⇔ pre-activation > 0); otherwise the layer is not observed (`Site.note` says why).
A sum of layers (`Layer.summed_with`) is observed only at the input of a next layer that is no sum.

Shared by the audit (`relulint.audit.activity`) and the training monitor (`relulint.monitor`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from relulint.records.model_facts import Chain


@dataclass(frozen=True)
class Site:
    """One hidden layer and where to watch it: `module`'s input (`mode="input"`) or output (`"output"`)."""

    chain: int
    layer: int  # 0-based among the chain's hidden layers
    module: str  # the Linear feeding the ReLU (what the layer is called in reports)
    width: int
    watch: str | None  # the submodule whose input / output is watched; None: not observable
    mode: str = "input"
    note: str | None = None


def sites(chain: Chain) -> list[Site]:
    """The observation site of every hidden layer of the chain (see the module docstring)."""
    out: list[Site] = []
    hidden = chain.hidden
    for i, layer in enumerate(hidden):
        following = chain.layers[i + 1] if i + 1 < len(chain.layers) else None
        common: dict[str, Any] = dict(
            chain=chain.index, layer=i, module=layer.module, width=layer.out_features
        )
        # a sum of layers (`Layer.summed_with`): its first part's output is not the sum, and the next sum's
        # first part may read something else than this ReLU (a GraphSAGE layer reads the neighbours' mean)
        if (
            following is not None
            and following.module
            and layer.norm_after is None
            and not following.summed_with
        ):
            out.append(Site(**common, watch=following.module, mode="input"))
        elif layer.module and layer.norm is None and not layer.summed_with:
            out.append(Site(**common, watch=layer.module, mode="output"))
        else:
            why = (
                "a norm after the ReLU"
                if layer.norm_after
                else "a sum of layers"
                if layer.summed_with
                else "no module to hook"
            )
            out.append(Site(**common, watch=None, note=f"not observed ({why})"))
    return out


def relu_module_sites(model: nn.Module) -> list[Site]:
    """Fallback when relulint cannot extract chains: every `nn.ReLU` module's output, as chain 0."""
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.ReLU)]
    return [
        Site(chain=0, layer=i, module=name, width=0, watch=name, mode="output")
        for i, (name, _) in enumerate(found)
    ]


def rows(tensor: torch.Tensor, width: int) -> torch.Tensor:
    """The tensor as (inputs × width): features last (a Linear's input / output)."""
    if width <= 0:
        width = tensor.shape[-1] if tensor.dim() else 1
    return tensor.detach().reshape(-1, width)


def first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        return next((v for v in value if isinstance(v, torch.Tensor)), None)
    if isinstance(value, dict):
        return next((v for v in value.values() if isinstance(v, torch.Tensor)), None)
    return None


def watched_module(model: nn.Module, site: Site) -> nn.Module | None:
    """The submodule a hook on ``site`` goes on (`Site.watch`), or None when there is none to hook."""
    if site.watch is None:
        return None
    try:
        return model.get_submodule(site.watch)
    except AttributeError:
        return None


def attach(
    model: nn.Module, site: Site, record: Callable[[torch.Tensor], None]
) -> torch.utils.hooks.RemovableHandle | None:
    """Call `record(relu_output_rows)` on every call of the site's module (None: nothing to hook)."""
    module = watched_module(model, site)
    if module is None:
        return None
    width = site.width
    if site.mode == "input":

        def pre_hook(_module: nn.Module, args: tuple[Any, ...]) -> None:
            tensor = first_tensor(args)
            if tensor is not None:
                record(rows(tensor, width))

        return module.register_forward_pre_hook(pre_hook)
    relu_output = not isinstance(module, nn.ReLU)  # a Linear's output is the pre-activation

    def hook(_module: nn.Module, _args: tuple[Any, ...], output: Any) -> None:
        tensor = first_tensor(output)
        if tensor is not None:
            values = rows(tensor, width)
            record(torch.relu(values) if relu_output else values)

    return module.register_forward_hook(hook)


def detach_all(handles: Iterable[Any]) -> None:
    for handle in handles:
        if handle is not None:
            handle.remove()
