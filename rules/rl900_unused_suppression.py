"""RL900 unused-suppression: a `# relulint: ignore[...]` comment that suppressed nothing.

The findings are produced by `relulint.suppress` after every other rule ran (it needs their findings),
not by `check`, which yields nothing; this class carries the code, docs and examples.
"""

from __future__ import annotations

from collections.abc import Iterator

from relulint.records.model_facts import ModelFacts
from relulint.records.report import Finding, Severity
from relulint.registry import Case, Rule, RuleContext


class UnusedSuppression(Rule):
    code = "RL900"
    name = "unused-suppression"
    severity = Severity.WARNING
    groups = ("relulint",)
    summary = "A `# relulint: ignore` comment suppresses nothing on its line."
    what = """
        Reports `# relulint: ignore[CODE, ...]` (and bare `# relulint: ignore`) comments in the files of
        the linted models that suppressed no finding in this run, naming the codes that no longer fire
        (like ruff's RUF100). A comment for a rule that is not selected in this run is left alone, as
        are comments inside an `nn.Module` class of the file that was not linted. An RL900 is suppressed
        only by an explicit `# relulint: ignore[RL900]` on its line.

        The findings come from relulint's suppression step (`relulint.suppress`), which runs after the
        other rules because it needs their findings; the rule's own `check` yields nothing.
    """
    why = """
        A suppression outlives the problem it hid: after the chain is widened, normalized or given an
        asymmetric initialization, the comment stays and would silently hide the next born-dead chain
        built on that line (`collapse` Thm 8 gives it the same probability as before). Removing stale
        comments keeps each suppression a deliberate, current decision.
    """
    references = ("ruff RUF100 unused-noqa: https://docs.astral.sh/ruff/rules/unused-noqa/",)
    INVALID = (
        Case(
            title="A suppression on a wide, healthy network",
            code="""
                from torch import nn


                class Net(nn.Module):
                    def __init__(self, width: int = 64):
                        super().__init__()
                        self.body = nn.Sequential(
                            nn.Linear(2, width),  # relulint: ignore[RL101]  # expect: RL900
                            nn.ReLU(),
                            nn.Linear(width, width),
                            nn.ReLU(),
                            nn.Linear(width, 1),
                        )

                    def forward(self, x):
                        return self.body(x)
            """,
        ),
        Case(
            title="A bare suppression where nothing fires",
            code="""
                from torch import nn


                def Net():
                    return nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 1))  # relulint: ignore  # expect: RL900
            """,
        ),
    )
    VALID = (
        Case(
            title="A suppression that hides a real RL101 finding",
            code="""
                import torch
                from torch import nn


                class Net(nn.Module):
                    def __init__(self, width: int = 3, depth: int = 12):
                        super().__init__()
                        self.first = nn.Linear(1, width)  # relulint: ignore[RL101]
                        self.hidden = nn.ModuleList([nn.Linear(width, width) for _ in range(depth - 1)])
                        self.out = nn.Linear(width, 1)

                    def forward(self, x):
                        h = torch.relu(self.first(x))
                        for layer in self.hidden:
                            h = torch.relu(layer(h))
                        return self.out(h)
            """,
        ),
    )

    def check(self, facts: ModelFacts, ctx: RuleContext) -> Iterator[Finding]:
        """Nothing here: RL900 findings are made by `relulint.suppress.apply_suppressions`."""
        return iter(())
