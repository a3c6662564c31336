"""A :class:`tiledet.progress.Progress` that records every call, for tests."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Phase:
    """One ``start(desc, total)`` and the ``advance`` steps that followed it."""

    desc: str
    total: int | None
    steps: list[int] = field(default_factory=list)

    @property
    def done(self) -> int:
        """The items advanced in this phase."""
        return sum(self.steps)


@dataclass
class RecordingProgress:
    """Records phases, advances and closes; an advance before any start lands in ``orphans``."""

    phases: list[Phase] = field(default_factory=list)
    orphans: list[int] = field(default_factory=list)
    closes: int = 0

    def start(self, desc: str, total: int | None) -> None:
        self.phases.append(Phase(desc, total))

    def advance(self, n: int = 1) -> None:
        (self.phases[-1].steps if self.phases else self.orphans).append(n)

    def close(self) -> None:
        self.closes += 1

    def starts(self) -> list[tuple[str, int | None]]:
        """``(desc, total)`` of every phase, in order."""
        return [(p.desc, p.total) for p in self.phases]

    def complete(self) -> bool:
        """Every phase with a total advanced exactly that far, nothing advanced outside a phase."""
        return not self.orphans and all(p.total is None or p.done == p.total for p in self.phases)
