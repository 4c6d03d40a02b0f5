"""Torch thread counts for batch work that shares the machine's cores with another process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["CoreShare"]


def _none() -> int:
    return 0


@dataclass(frozen=True)
class CoreShare:
    """The torch threads one forward pass may use: ``cores``, less the cores that ``taken()`` says other processes
    (an ingest's extraction workers) are computing on now, and at least one.

    Torch on more threads than free cores stalls at every barrier (a two-thread classifier beside one busy core
    ran 2.7x slower on 2 cores), while a worker that works in bursts leaves its core idle between them: asked
    before each pass, the count follows the workers instead of giving their cores up for the whole ingest."""

    cores: int
    taken: Callable[[], int] = field(default=_none)

    def threads(self) -> int:
        """Threads for the next forward pass."""
        return max(1, self.cores - self.taken())

    def apply(self) -> None:
        """Set torch's thread count for the next forward pass."""
        import torch

        wanted = self.threads()
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)
