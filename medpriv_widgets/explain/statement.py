"""A sentence for people and the numbers it was built from."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Statement:
    """A sentence for people, and the numbers behind it."""

    text: str
    numbers: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.text
