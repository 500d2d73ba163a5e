"""Reconciliation's figures per use-org: what data permissions and allocations look like.

Kingdee hides the rows of use-orgs the integration user may not see, silently (DESIGN §4b): to a
key scan, a permission change looks exactly like every row of a use-org being deleted at once.
Counting source rows and live target rows per use-org makes that visible, and a use-org whose rows
all vanished withholds the deletes (unless it is small, see :func:`vanished_org_guard`).
The use-org is the spec column mapped from ``FUseOrgId`` (``FUseOrgId.FNumber`` preferred).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from kd_assets.sync.spec import ColumnSpec, SyncSpec

USE_ORG_FIELD = "fuseorgid"
NO_ORG = "(none)"


def use_org_column(spec: SyncSpec) -> ColumnSpec | None:
    """The spec's use-org column, or None when the spec maps none (no per-use-org figures)."""
    found = [c for c in spec.columns if c.field.lower().split(".")[0] == USE_ORG_FIELD]
    found.sort(key=lambda c: not c.field.lower().endswith(".fnumber"))
    return found[0] if found else None


def org_label(value) -> str:
    text = "" if value is None else str(value).strip()
    return text or NO_ORG


@dataclass
class UseOrgTally:
    """Rows per use-org on each side of a key scan, and the differences found in each."""

    source: Counter = field(default_factory=Counter)
    target_live: Counter = field(default_factory=Counter)
    missing: Counter = field(default_factory=Counter)   # missing_in_target (incl. revived)
    deleted: Counter = field(default_factory=Counter)   # deleted_at_source candidates

    @property
    def orgs(self) -> list[str]:
        return sorted(set(self.source) | set(self.target_live))

    def rows(self) -> list[dict]:
        """One record per use-org: source rows, live target rows, missing and deleted keys."""
        return [{"use_org": org, "source_rows": self.source[org], "target_live_rows": self.target_live[org],
                 "missing_in_target": self.missing[org], "deleted_at_source": self.deleted[org]}
                for org in self.orgs]

    def missing_at_source(self) -> list[str]:
        """Use-orgs the target holds live rows of and the source scan returned none of."""
        return [org for org in self.orgs if self.target_live[org] and not self.source[org]]


def vanished_org_guard(tally: UseOrgTally, min_rows: int, max_share: float) -> str | None:
    """Why deleting now would wipe whole use-orgs (what a permission change looks like), or None.

    A use-org counts when more than ``min_rows`` (``KD_DELETE_GUARD_MIN_ROWS``) of its live rows
    vanished: a small use-org whose few customers were really deleted must not block deletes forever.
    ``max_share`` 1 (a run that allows any share of deletes) lifts this guard too.
    """
    if max_share >= 1:
        return None
    big = {org: tally.target_live[org] for org in tally.missing_at_source() if tally.target_live[org] > min_rows}
    if not big:
        return None
    listed = ", ".join(f"{org} ({n} live rows)" for org, n in big.items())
    return (f"the source scan returned no row of use-org {listed}; a whole use-org vanishing at once is what a "
            f"change of the integration user's data permissions looks like (if the use-org is really gone, "
            f"re-run with max_delete_share 1)")
