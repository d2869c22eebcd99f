"""The result of a check: :class:`Finding`."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Finding:
    """One result of :func:`check_data`: severity ``warning`` or ``info``, a check name, a one-line
    message and the indices of the structures concerned."""

    severity: str
    check: str
    message: str
    structures: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"
