"""`Location`: a place in a source file (1-based line and column).

Every stage attaches one to what it makes — the load stage to construction sites and init calls, the
capture to nodes, the extraction to layers and chains, the rules to findings — so that each record can
point at a line the user owns. It is its own module because every other record module imports it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A place in a source file (1-based line and column)."""

    path: str
    line: int
    col: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"
