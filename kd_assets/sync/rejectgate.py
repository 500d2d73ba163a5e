"""When rejected rows hold a whole batch back from the target: one rule for every publishing path.

A batch whose share of rejects is unusual points at a systematic fault (a changed field, a broken
conversion) and is held back whole; a few permanently bad rows are not a fault of the batch, so
the share only counts above a floor of rejects, as the delete guard does. Without the floor, one
bad row among a quiet day's five blocks that day on every re-run. The sync's ``clean_schema``
check and reconciliation's heal path ask the same gate, so the same rows publish either way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_MAX_REJECT_SHARE = 0.05
DEFAULT_MIN_REJECTS = 10


@dataclass(frozen=True)
class RejectGate:
    """Blocks a batch only when its rejects exceed both ``max_share`` of its rows and ``min_rejects``."""

    max_share: float = DEFAULT_MAX_REJECT_SHARE
    min_rejects: int = DEFAULT_MIN_REJECTS

    def __post_init__(self) -> None:
        if not 0 <= self.max_share <= 1:
            raise ValueError(f"KD_MAX_REJECT_SHARE must be between 0 and 1, got {self.max_share!r}")
        if self.min_rejects < 0:
            raise ValueError(f"KD_REJECT_GATE_MIN_ROWS must be ≥ 0, got {self.min_rejects!r}")

    def blocks(self, rejected: int, rows: int) -> str | None:
        """Why a batch of ``rows`` with ``rejected`` rejects must not publish, or None if it may."""
        share = rejected / rows if rows else 0.0
        if rejected > self.min_rejects and share > self.max_share:
            return (f"{rejected} of {rows} rows rejected ({share:.1%}): more than KD_MAX_REJECT_SHARE="
                    f"{self.max_share:.1%} and more than KD_REJECT_GATE_MIN_ROWS={self.min_rejects} rows")
        return None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "RejectGate":
        """``KD_MAX_REJECT_SHARE`` (0.05) and ``KD_REJECT_GATE_MIN_ROWS`` (10)."""
        env = os.environ if environ is None else environ
        share = env.get("KD_MAX_REJECT_SHARE", "").strip()
        floor = env.get("KD_REJECT_GATE_MIN_ROWS", "").strip()
        try:
            max_share = float(share) if share else DEFAULT_MAX_REJECT_SHARE
        except ValueError:
            raise ValueError(f"KD_MAX_REJECT_SHARE must be a number between 0 and 1, got {share!r}") from None
        if floor and not floor.isdigit():
            raise ValueError(f"KD_REJECT_GATE_MIN_ROWS must be a whole number ≥ 0, got {floor!r}")
        return cls(max_share, int(floor) if floor else DEFAULT_MIN_REJECTS)
