"""Layer-count conventions: relulint counts ReLU (hidden) layers everywhere.

The papers count depth in two ways, and every number in relulint says which count it uses:

* ``collapse`` Thm 8 and Eq. 5 count *ReLU layers*: ``N^1, ..., N^L`` are the widths of the layers that are
  followed by a ReLU (Fig. 6 also applies the ReLU after the last layer, so there every layer counts).
* ``dying`` Eq. 2.1 calls ``N^L`` an "L-layer neural network or a (L-1)-hidden layer neural network": L affine
  maps, the first L - 1 followed by a ReLU and the last one linear.  Its Theorems 3.2-3.3 and Corollary 3.5 are
  stated in this count (the products run over ``l = 1, ..., L-1``).
* ``nonconvergence`` uses an architecture ``a = (a_0, ..., a_D)``: D affine maps, hidden layers ``1, ..., D-1``;
  ``D`` plays the role of the ``dying`` L.

**relulint's one convention: a depth is the number of ReLU (hidden) layers**, as in ``collapse`` Thm 8 / Eq. 5.
Functions that implement a ``dying`` formula take ``relu_layers`` and convert with the two helpers below, never
by ad-hoc ``+ 1``/``- 1`` elsewhere.
"""

from __future__ import annotations

__all__ = ["paper_layers_from_relu_layers", "relu_layers_from_paper_layers"]


def relu_layers_from_paper_layers(L: int) -> int:
    """Number of ReLU (hidden) layers of a ``dying``-paper "L-layer network".

    ``dying`` Eq. 2.1: an L-layer network has L - 1 hidden ReLU layers and a linear output layer, so this
    returns ``L - 1``.  Input: the paper's layer count L (>= 1).  Output: relulint's count (ReLU layers).

    >>> relu_layers_from_paper_layers(10)
    9
    """
    if isinstance(L, bool) or int(L) != L or L < 1:
        raise ValueError(f"a paper layer count L must be an integer >= 1, got {L!r}")
    return int(L) - 1


def paper_layers_from_relu_layers(n: int) -> int:
    """The ``dying``-paper layer count L (Eq. 2.1) of a network with ``n`` hidden ReLU layers.

    Inverse of :func:`relu_layers_from_paper_layers`: ``L = n + 1`` (n ReLU layers plus the linear output
    layer).  Input: relulint's count (ReLU layers, >= 0).  Output: the ``dying`` count L.

    >>> paper_layers_from_relu_layers(9)
    10
    """
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ValueError(f"a number of ReLU layers must be an integer >= 0, got {n!r}")
    return int(n) + 1
