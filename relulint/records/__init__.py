"""The immutable records that flow one way through relulint's pipeline, one module per stage's output.

    Target → LoadedModel → Capture → ModelFacts → Finding → Report

* `relulint.records.location` — `Location`, a place in a source file: every stage attaches one.
* `relulint.records.loaded` — what the user asked for and what the load stage built from it: `Target`
  (made by `relulint.target`), `LoadedModel` and `Skipped` (`relulint.load`), `InitEvent`
  (`relulint.init_recorder`), `Failure` (a target whose import or build raised, `relulint.api`).
* `relulint.records.captured` — the forward pass as captured: `Capture` of `Node`s (`relulint.capture`).
* `relulint.records.model_facts` — `ModelFacts`, everything the rules read, and its parts: `Chain` /
  `Layer` / `InitInfo` (`relulint.extract`), `ModelGraph` / `GraphNode` (`relulint.graph`),
  `TrainingFacts` (`relulint.training`), `ProbeResult` (`relulint.probe`).
* `relulint.records.report` — what the rules and the run produce: `Severity`, `Finding` (`rules/`),
  `TargetReport` and `Report` (`relulint.api`), read by the renderers, suppressions and baselines.

Every stage reads the record of the stage before it and returns a new one; nothing is mutated after it
is built. Only `LoadedModel` holds live torch objects (the user's module); everything from `ModelFacts`
on is plain data that renders to json without torch. This package imports no torch.

Layer counting (one convention, used everywhere): a chain's *depth* is the number of ReLU (hidden)
layers, as in `collapse` Theorem 8 and Eq. 5. `dying` writes "an L-layer network" for L − 1 hidden ReLU
layers plus a linear output layer (Eq. 2.1); `relulint.theory.layers` converts.
"""

from __future__ import annotations
