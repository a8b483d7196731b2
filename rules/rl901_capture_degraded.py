"""RL901 capture-degraded (info): torch.fx could not trace the model, so a fallback capture was used."""

from __future__ import annotations

from collections.abc import Iterator

from relulint.records.model_facts import ModelFacts
from relulint.records.report import Finding, Severity
from relulint.registry import Case, Rule, RuleContext

CAPTURE_NAMES = {
    "hooks": "one forward pass with module hooks and a TorchFunctionMode",
    "registration": "the order in which submodules were registered",
    "torchscript": "its TorchScript graph",
}


class CaptureDegraded(Rule):
    code = "RL901"
    name = "capture-degraded"
    severity = Severity.INFO
    groups = ("relulint",)
    summary = "torch.fx could not trace forward; relulint read the model another way."
    what = """
        Reports, for each model, that `torch.fx.symbolic_trace` failed and which fallback relulint
        used: one concrete forward pass under `torch.no_grad()` recorded with module hooks and a
        `TorchFunctionMode` (sees every module call and functional ReLU on the path that input took), or,
        when forward cannot run, the registration order of the submodules (then RL902 warns that the
        verdict is incomplete). A `torch.jit.script` / `torch.jit.trace` model is read from its
        TorchScript graph. Also reported: a forward whose depth is drawn from Python's `random`
        (`range(random.randint(2, 6))`): relulint traces it under several seeds and reports the deepest
        graph it saw.
    """
    why = """
        The rules read ReLU chains off the captured graph. A forward with data-dependent control flow
        (`if x.sum() > 0`, `len(x)`, `int(x.shape[0])`, numpy calls) cannot be traced symbolically, and
        a fallback sees only one path through it: a chain that another branch takes is not checked. The
        note tells you why, so you can make forward traceable or pass `--input-shape`.
    """
    references = ("torch.fx documentation: Limitations of Symbolic Tracing.",)
    INVALID = (
        Case(
            title="Data-dependent control flow",
            code="""
                from torch import nn


                class Net(nn.Module):  # expect: RL901
                    def __init__(self):
                        super().__init__()
                        self.body = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))

                    def forward(self, x):
                        if x.sum() > 0:
                            return self.body(x)
                        return self.body(-x)
            """,
        ),
    )
    VALID = (
        Case(
            title="A traceable forward",
            code="""
                from torch import nn


                class Net(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.body = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))

                    def forward(self, x):
                        return self.body(x)
            """,
        ),
    )

    def check(self, facts: ModelFacts, ctx: RuleContext) -> Iterator[Finding]:
        if facts.capture_gaps:
            return  # RL902 (a warning) says it: the verdict is incomplete
        notes = tuple(facts.capture_notes)
        if facts.capture_method == "fx":
            if notes:
                yield self.finding(
                    facts,
                    f"{facts.name}: " + "; ".join(notes) + ".",
                    details={"capture": facts.capture_method, "reason": None, "notes": list(notes)},
                    fix="make the depth of forward fixed, or check the deepest configuration on its own",
                )
            return
        how = CAPTURE_NAMES.get(facts.capture_method, facts.capture_method)
        extra = "".join(f"; {note}" for note in notes)
        yield self.finding(
            facts,
            f"{facts.name}: captured with {how}, because {facts.capture_reason or 'torch.fx failed'}{extra}.",
            details={"capture": facts.capture_method, "reason": facts.capture_reason, "notes": list(notes)},
            fix="make forward traceable by torch.fx, or pass --input-shape for the fallback",
        )
