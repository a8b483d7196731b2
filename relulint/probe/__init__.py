"""The probe: a Monte-Carlo estimate of a chain's born-dead probability for *this* model's init.

Definition (`dying` Eq. 3.1): a sample of the parameters is born dead when the network is constant on the
input set D. Almost surely that happens exactly when some hidden (ReLU) layer is zero at every x in D
(`collapse` Lemma 1), which is what the probe counts, exactly (no threshold). It counts separately the
samples that are *numerically* near-constant without a zero layer (relative output spread below 1e-6:
the signal-length decay of PyTorch's default init, `collapse` Eq. 2-3), and per hidden layer the mean
fraction of units that carry no signal (zero at every x in D, or the sample already died before it; in a
Gaussian-reduced bias-free layer, its expectation given the layer's inputs, ``1/4 + asin(cos θ) / 2π`` per
unit: the same mean, less variance, no pass over the units).

How it samples (``ProbeResult.method`` / ``notes`` say which path ran):

* **batched**: the parameters of every layer are drawn for a whole block of samples at once from the
  recorded initializers (`relulint.probe.laws`), on the probe's own ``torch.Generator`` per block; a chain
  initialised by `relulint.init.rai_` is recorded as RAI and drawn so, on its recorded arguments.
* **reinstantiate**: where an init is custom or unknown, the model's own construction
  (``LoadedModel.rebuild``) runs once per sample under a fork of the global RNGs (torch, numpy, random)
  seeded from ``seed``; the chain's Linear modules are read by qualified name. Slow: a progress bar with an
  ETA, and ``timeout`` stops it with the estimate over the samples reached.
* **exact-2-point**: a bias-free chain with ``d_in = 1`` is positively homogeneous, ``h(x) = |x| h(sign x)``,
  so a layer is zero on all of D iff it is zero at ``-1`` and ``+1`` (the signs present in D): D is
  replaced by those two points, exactly, for any domain or data (`dying` Thm 3.3's setting).
* **gaussian-reduced**: for a layer with iid centred Gaussian weights (He / Xavier / normal) and a
  Gaussian, constant or absent bias, only the joint law of its pre-activations at the points of D matters:
  given the previous layer's outputs ``H`` the ``N`` units are iid ``N(m 1, σ_w² G + σ_b² 11ᵀ)`` with
  ``G = H Hᵀ`` the Gram matrix of the points, whatever the signs of its entries. With ``|D| <= 2`` the probe
  draws ``|D| N`` correlated normals (Cholesky of the 2 x 2 covariance) instead of the ``N N_prev`` weights;
  used where ``|D| < N_prev``.

Scale: a bias-free hidden stack is positively homogeneous, so the probe may divide each sample's (and, with
``|D| <= 2``, each point's) hidden state by any positive number to keep float32 in range; it carries the
log of those factors per sample and point and puts them back (with the output bias) before it compares the
outputs for the near-constant count.

Speed: vectorised over samples, samples already dead are dropped (early exit), float32. The samples are
drawn in blocks fixed by the chain, the number of samples and the device type (an even number of equal
blocks when there are several), each from a generator seeded from (seed, block index); ``max_memory`` only
sets how many blocks run at once, so the result is deterministic for a given seed, sample count and device
(and kind of CPU: PyTorch's ``normal_`` draws other numbers on CPUs without AVX2). torch draws a
generator's numbers on one thread, so on a CPU two chunks run at once (threads), each on its
own blocks' generators: both cores draw, and neither idles while the other does the arithmetic. After a
ReLU, a Gaussian-reduced bias-free layer at two points (the common case: deep bias-free chains) runs as one
step, lerp, ReLU and Gram (`relulint.probe.pair_step`), in plain PyTorch (no compiler at run time). Runs on
CUDA when asked (``device="auto"`` picks it when present) and falls back to the CPU with a note; the global
RNG states are left untouched.

The package, one module per job: `plan` (laws, D, shortcuts), `laws` (the samplers of each initializer),
`sampling` (blocks, generators, the rebuild path), `tally` (the counts), `pair_engine` (``|D| <= 2``) with
its layer step `pair_step`, `point_engine` (any D), `runner` (`probe_chain`), `progress`, `device`; the
data files are read by `relulint.datafiles`.
"""

from __future__ import annotations

from relulint.datafiles import load_probe_data
from relulint.probe.device import parse_device, resolve_device
from relulint.probe.progress import status_progress
from relulint.probe.runner import ProbeInterrupted, probe_chain
from relulint.probe.tally import NEAR_CONSTANT_RTOL, wilson_interval

__all__ = [
    "NEAR_CONSTANT_RTOL",
    "ProbeInterrupted",
    "load_probe_data",
    "parse_device",
    "probe_chain",
    "resolve_device",
    "status_progress",
    "wilson_interval",
]
