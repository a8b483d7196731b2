"""RL902 incomplete-capture (warning): relulint could not see the whole forward pass, so the verdict is
incomplete; the message names what is missing and the flag that fixes it."""

from __future__ import annotations

from collections.abc import Iterator

from relulint.records.model_facts import ModelFacts
from relulint.records.report import Finding, Severity
from relulint.registry import Case, Rule, RuleContext


class IncompleteCapture(Rule):
    code = "RL902"
    name = "incomplete-capture"
    severity = Severity.WARNING
    groups = ("relulint",)
    summary = "relulint could not run forward; its verdict on this model is incomplete."
    what = """
        Warns when relulint could not capture the model's forward pass: torch.fx could not trace it and
        `forward` raised on every example input relulint built (one tensor per argument, lists of
        tensors, integer ids for `nn.Embedding`, shapes fitted to the first layer that consumes each
        argument), or the model has no `forward`. relulint then reads the layers in the order they were
        registered, and the functional ReLUs (`F.relu`, `torch.relu`, `x.relu()`) from the source of
        `forward`: skip connections, the order in which layers are used and anything the source does not
        spell plainly are guesses. The message gives the error `forward` raised and the flags that let it
        run (`--input-shape x=8,1 --input-shape t=8,1`, `--input-dtype long`).
    """
    why = """
        A network is born dead when some hidden ReLU layer outputs zero for every input (`collapse`
        Lemma 1); the probability of that grows with depth and shrinks with width (`collapse` Thm 8,
        Eq. 5). relulint can only bound it for the ReLU layers it sees. When it cannot tell whether the
        Linears are followed by ReLUs, or how they are connected, a deep narrow chain may go unchecked:
        a quiet "no ReLU chain" would be a silent pass, so relulint says that its verdict is incomplete.
    """
    references = (
        "torch.fx documentation: Limitations of Symbolic Tracing.",
        "`collapse` Lemma 1, Theorem 8.",
    )
    INVALID = (
        Case(
            title="forward needs an argument relulint cannot build",
            code="""
                import torch.nn.functional as F
                from torch import nn


                class Net(nn.Module):  # expect: RL902
                    def __init__(self):
                        super().__init__()
                        self.layers = nn.ModuleList([nn.Linear(2, 32)] + [nn.Linear(32, 32) for _ in range(2)])
                        self.out = nn.Linear(32, 1)

                    def forward(self, x, config):
                        for layer in self.layers[: config.depth]:
                            x = F.relu(layer(x))
                        return self.out(x)
            """,
        ),
    )
    VALID = (
        Case(
            title="forward runs on an example input (its other arguments have defaults)",
            code="""
                import torch.nn.functional as F
                from torch import nn


                class Net(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.layers = nn.ModuleList([nn.Linear(2, 32)] + [nn.Linear(32, 32) for _ in range(2)])
                        self.out = nn.Linear(32, 1)

                    def forward(self, x, depth: int = 3):
                        for layer in self.layers[:depth]:
                            x = F.relu(layer(x))
                        return self.out(x)
            """,
        ),
    )

    def check(self, facts: ModelFacts, ctx: RuleContext) -> Iterator[Finding]:
        if not facts.capture_gaps:
            return
        chains = len(facts.chains)
        seen = f"{chains} ReLU chain{'s' if chains != 1 else ''} seen" if chains else "no ReLU chain seen"
        yield self.finding(
            facts,
            f"{facts.name}: the verdict is incomplete ({seen}): " + "; ".join(facts.capture_gaps) + ".",
            details={"capture": facts.capture_method, "gaps": list(facts.capture_gaps)},
            fix="give example inputs (--input-shape, --input-dtype) or make forward runnable on them",
        )
