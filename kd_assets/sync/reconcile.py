"""Reconciliation: a full key scan of the Kingdee form compared with the target table.

Finds what incremental syncs cannot see (DESIGN §4b): rows deleted at the source, rows missing
from the target, and changes that moved no timestamp forward (Enable clearing FForbidDate,
UnAudit clearing FApproveDate, Submit changing only FDocumentStatus). Missing, stale and drifted
rows are re-fetched by key and published like a sync run would; rows deleted at the source are
soft-deleted, but only after the scan completed and only when an ordinary share of rows vanished:
a permission change or a half-failed scan must not wipe the table.

``reconcile(client, store, spec, run_id)`` streams both sides in key order (bounded memory: one
page each, plus 16 bytes per differing key) and returns a :class:`ReconcileReport`.
"""

from __future__ import annotations

import logging
import os
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import pandas as pd

from kd_assets.sync.billspec import bill_of
from kd_assets.sync.keydiff import Difference, Kind, ScanTotals, diff_keys, scan_fields, source_states, \
    target_scan_columns, target_states
from kd_assets.sync.reconcile_heal import DEFAULT_HEAL_BATCH, NO_TIME, HealCounts, Healer
from kd_assets.sync.rejectgate import RejectGate
from kd_assets.sync.schemas import source_now
from kd_assets.sync.spec import SyncSpec
from kd_assets.sync.store import TargetStore
from kd_assets.sync.synclog import SyncRecord
from kd_assets.sync.use_orgs import UseOrgTally, vanished_org_guard
from kd_assets.sync.verify import ContentReport, verify_content
from kd_assets.sync.verify_scope import todays_scope

logger = logging.getLogger("kd_assets.sync.reconcile")

DEFAULT_MAX_DELETE_SHARE = 0.05
DEFAULT_DELETE_GUARD_MIN_ROWS = 10
SAMPLE_SIZE = 20
HEALED_KINDS = (Kind.MISSING, Kind.STALE, Kind.DRIFT)


class SourceScanError(RuntimeError):
    """The key scan did not complete; nothing was healed or soft-deleted."""


def max_delete_share_from_env(environ: Mapping[str, str] | None = None) -> float:
    """``KD_MAX_DELETE_SHARE``: largest share of live target rows soft-deleted at once (0.05)."""
    raw = (os.environ if environ is None else environ).get("KD_MAX_DELETE_SHARE", "").strip()
    try:
        return checked_share(float(raw) if raw else DEFAULT_MAX_DELETE_SHARE, "KD_MAX_DELETE_SHARE")
    except ValueError:
        raise ValueError(f"KD_MAX_DELETE_SHARE must be a number between 0 and 1, got {raw!r}") from None


def checked_share(value: float, name: str = "max_delete_share") -> float:
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    return float(value)


def delete_guard_min_rows_from_env(environ: Mapping[str, str] | None = None) -> int:
    """``KD_DELETE_GUARD_MIN_ROWS``: up to this many deletes pass the share guard (10), so a
    small table can lose a customer without tripping it."""
    raw = (os.environ if environ is None else environ).get("KD_DELETE_GUARD_MIN_ROWS", "").strip()
    if not raw:
        return DEFAULT_DELETE_GUARD_MIN_ROWS
    if not raw.isdigit():
        raise ValueError(f"KD_DELETE_GUARD_MIN_ROWS must be a whole number ≥ 0, got {raw!r}")
    return int(raw)


def delete_guard(candidates: int, target_live: int, source_rows: int, max_share: float,
                 min_rows: int) -> str | None:
    """Why deleting ``candidates`` rows now would be deleting on bad evidence, or None if it is not."""
    if candidates == 0:
        return None
    if source_rows == 0 and max_share < 1:
        return f"the source scan returned no rows while the target holds {target_live} live rows"
    share = candidates / target_live if target_live else 1.0
    if candidates > min_rows and share > max_share:
        return (f"{candidates} of {target_live} live target rows ({share:.1%}) are absent from the source "
                f"scan, more than KD_MAX_DELETE_SHARE={max_share:.1%}")
    return None


@dataclass(frozen=True)
class BillTally:
    """Bills counted on each side of a bill spec's scan, and bills whose set of lines differs
    (a line missing from or deleted at the source, or the whole bill)."""

    source: int
    target: int
    line_sets_differ: int


@dataclass
class ReconcileReport:
    """What one reconciliation found and did. Samples hold up to 20 keys per kind, in key order."""

    form_id: str
    target: str
    applied: bool
    max_delete_share: float
    delete_guard_min_rows: int
    source_rows: int = 0
    target_rows: int = 0
    target_live: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {k.value: 0 for k in Kind})
    samples: dict[str, list[int]] = field(default_factory=lambda: {k.value: [] for k in Kind})
    heal: HealCounts = field(default_factory=HealCounts)
    soft_deleted: int = 0
    reappeared: int = 0          # delete candidates a fetch by key found again (created meanwhile)
    staged_vanished: int = 0     # never-published staged rows gone at the source: tombstoned, not deletions
    deletes_applied: bool = False
    deletes_withheld: str | None = None
    use_orgs: UseOrgTally = field(default_factory=UseOrgTally)  # rows and differences per use-org
    # The target's newest change time when the scan began: a missing row older than it was never
    # going to be found by a probe of recent changes (an allocated copy, a row made visible again).
    watermark_ns: int | None = None
    missing_older_than_watermark: int = 0
    heal_older: HealCounts = field(default_factory=HealCounts)  # of those rows (part of ``heal``)
    content: ContentReport | None = None  # content verification, when asked for (verify_days)
    bills: BillTally | None = None  # a bill spec's bills and line-count differences

    def note(self, diff: Difference) -> None:
        self.counts[diff.kind.value] += 1
        if len(self.samples[diff.kind.value]) < SAMPLE_SIZE:
            self.samples[diff.kind.value].append(diff.key)
        if diff.kind == Kind.MISSING:
            self.missing_older_than_watermark += self.older_than_watermark(diff)
        if diff.org is not None and diff.kind in (Kind.MISSING, Kind.DELETED):
            tally = self.use_orgs.missing if diff.kind == Kind.MISSING else self.use_orgs.deleted
            tally[diff.org] += 1

    def older_than_watermark(self, diff: Difference) -> bool:
        return (self.watermark_ns is not None and diff.change_ns is not None
                and diff.change_ns < self.watermark_ns)

    @property
    def orgs_missing_at_source(self) -> list[str]:
        """Use-orgs with live target rows of which the source scan returned none."""
        return self.use_orgs.missing_at_source()

    @property
    def healed_missing_older_than_watermark(self) -> int:
        return self.heal_older.changed

    @property
    def differences(self) -> int:
        return sum(self.counts.values())

    @property
    def to_heal(self) -> int:
        return sum(self.counts[k.value] for k in HEALED_KINDS)

    @property
    def delete_share(self) -> float:
        """Share of live target rows absent from the source scan."""
        deleted = self.counts[Kind.DELETED.value]
        return deleted / self.target_live if self.target_live else float(deleted > 0)

    @property
    def unresolved(self) -> int:
        """Differences still standing: not healed (dry run) or deletes withheld."""
        h = self.heal
        heal_left = (self.to_heal - h.healed - h.quarantined - h.known_rejects - h.vanished
                     if self.applied else self.to_heal)
        deleted = self.counts[Kind.DELETED.value]
        delete_left = deleted - self.soft_deleted - self.reappeared if self.deletes_applied else deleted
        return max(heal_left, 0) + max(delete_left, 0) + (self.content.unresolved if self.content else 0)

    @property
    def healed_rows(self) -> int:
        """Rows written or quarantined to heal a difference, by key scan and content verification."""
        heal = self.all_heal
        return heal.changed + heal.quarantined

    @property
    def all_heal(self) -> HealCounts:
        return self.heal + self.content.heal if self.content else self.heal

    @property
    def status(self) -> str:
        """in_sync | healed | withheld | unresolved (≤ 16 characters, for the sync log)."""
        if self.deletes_withheld and self.applied:
            return "withheld"
        if self.unresolved:
            return "unresolved"
        return "healed" if self.healed_rows or self.soft_deleted or self.staged_vanished else "in_sync"

    def summary(self) -> str:
        """One line for logs, the sync log and the check description."""
        found = ", ".join(f"{k.value} {self.counts[k.value]}" for k in Kind)
        text = (f"{self.form_id} vs {self.target}: {self.source_rows} source rows, {self.target_rows} target rows "
                f"({self.target_live} live); {found}.")
        if self.applied:
            text += (f" Healed {self.heal.changed} rows ({self.heal.quarantined} quarantined, "
                     f"{self.heal.known_rejects} known rejects, {self.heal.vanished} gone meanwhile, "
                     f"{self.heal.withheld} withheld by the reject gate); soft-deleted {self.soft_deleted}.")
            if self.staged_vanished:
                text += (f" Tombstoned {self.staged_vanished} staged rows never published and gone at the "
                         f"source.")
        else:
            text += " Dry run: nothing changed."
        if self.deletes_withheld:
            text += f" Deletes withheld: {self.deletes_withheld}."
        if self.orgs_missing_at_source:
            text += f" Use-orgs absent from the source: {', '.join(self.orgs_missing_at_source)}."
        if self.missing_older_than_watermark:
            text += (f" {self.missing_older_than_watermark} missing rows were older than the target's newest "
                     f"change time (allocated copies, rows made visible): no change probe finds them.")
        if self.bills:
            text += (f" Bills: {self.bills.source} at the source, {self.bills.target} live in the target, "
                     f"{self.bills.line_sets_differ} with differing line sets.")
        if self.content:
            text += " " + self.content.summary()
        return text

    def sync_record(self, asset: str, run_id: str | None, **extra) -> SyncRecord:
        """The sync-log row of this reconciliation; ``extra`` adds api_calls, duration_s, …"""
        u = self.all_heal.upserted
        return SyncRecord(asset=asset, status=self.status, run_id=run_id, rows_in=self.source_rows,
                          inserted=u.inserted, updated=u.updated, unchanged=u.unchanged,
                          skipped_older=u.skipped_older, rejected=self.all_heal.quarantined,
                          deleted=self.soft_deleted, message=self.summary()[:1000], **extra)


WITHHELD_ADVICE = ("Nothing was soft-deleted. Data permissions of the integration user hide rows silently and a "
                   "half-failed scan returns too few: check both. If the deletions are real, re-run with a "
                   "higher max_delete_share (run config) or KD_MAX_DELETE_SHARE.")


@dataclass
class _KeyPlan:
    """Differing keys by kind (int64 arrays: 16 bytes a key with its change time)."""

    keys: dict[Kind, array] = field(default_factory=lambda: {k: array("q") for k in Kind})
    change_ns: dict[Kind, array] = field(default_factory=lambda: {k: array("q") for k in Kind})
    older_keys: array = field(default_factory=lambda: array("q"))  # MISSING, older than the watermark
    older_ns: array = field(default_factory=lambda: array("q"))
    bills: set = field(default_factory=set)  # a bill spec's bills whose line sets differ

    def add(self, diff: Difference, older: bool = False) -> None:
        keys, times = (self.older_keys, self.older_ns) if older else (self.keys[diff.kind], self.change_ns[diff.kind])
        keys.append(diff.key)
        times.append(NO_TIME if diff.change_ns is None else diff.change_ns)


def reconcile(client, store: TargetStore, spec: SyncSpec, run_id: str, *, apply: bool = True,
              max_delete_share: float | None = None, delete_guard_min_rows: int | None = None,
              heal_batch: int = DEFAULT_HEAL_BATCH, now: pd.Timestamp | None = None,
              reject_gate: RejectGate | None = None, verify_days: int = 0) -> ReconcileReport:
    """Compare a complete key scan of ``spec.form_id`` with the target; heal and soft-delete.

    ``apply=False`` only reports. Guard settings default to ``KD_MAX_DELETE_SHARE`` and
    ``KD_DELETE_GUARD_MIN_ROWS``, the reject gate of healed rows to ``RejectGate.from_env()``. Raises :class:`SourceScanError` when the scan fails midway.
    ``verify_days`` > 0 then verifies the content of today's slice of a split over that many days
    (1: every row; see verify.py), after healing so that it compares a converged target.
    """
    report = ReconcileReport(
        form_id=spec.form_id, target=spec.tables.target, applied=apply,
        max_delete_share=max_delete_share_from_env() if max_delete_share is None else checked_share(max_delete_share),
        delete_guard_min_rows=(delete_guard_min_rows_from_env() if delete_guard_min_rows is None
                               else int(delete_guard_min_rows)))
    plan = _scan(client, store, spec, report)
    now = now if now is not None else source_now(client.config.source_timezone)
    healer = Healer(client, store, spec, run_id, now, heal_batch,
                    reject_gate if reject_gate is not None else RejectGate.from_env())
    if apply:
        report.heal_older = healer.heal(plan.older_keys, plan.older_ns, force=True)
        report.heal += report.heal_older
        # A row soft-deleted in the target that is back at the source is revived whatever its change
        # time; drift moved the change time backwards, so only a forced write can heal it.
        for kind, force in ((Kind.MISSING, True), (Kind.STALE, False), (Kind.DRIFT, True)):
            report.heal += healer.heal(plan.keys[kind], plan.change_ns[kind], force=force)
    _apply_deletes(healer, store, run_id, plan.keys[Kind.DELETED], report)
    if verify_days:
        scope = todays_scope(store.engine, store.tables.target, store.key, now.date(), verify_days)
        scope = scope.for_bills() if spec.bill else scope
        report.content = verify_content(client, store, spec, run_id, scope, now=now, apply=apply, healer=healer)
    logger.info("reconcile %s", report.summary())
    return report


def _scan(client, store: TargetStore, spec: SyncSpec, report: ReconcileReport) -> _KeyPlan:
    newest = store.newest_change_time()
    report.watermark_ns = None if newest is None else int(pd.Timestamp(newest).value)
    totals, plan = ScanTotals(by_org=report.use_orgs), _KeyPlan()
    pages = _scan_pages(client, spec, totals)
    target_rows = store.target_keys(extra=target_scan_columns(spec))
    for diff in diff_keys(source_states(spec, pages, totals), target_states(spec, target_rows, totals)):
        plan.add(diff, older=diff.kind == Kind.MISSING and report.older_than_watermark(diff))
        report.note(diff)
        if spec.bill and diff.kind in (Kind.MISSING, Kind.DELETED):
            plan.bills.add(bill_of(diff.key))
    report.source_rows, report.target_rows, report.target_live = (totals.source_rows, totals.target_rows,
                                                                  totals.target_live)
    if spec.bill:
        report.bills = BillTally(totals.source_bills, totals.target_bills, len(plan.bills))
    return plan


def _scan_pages(client, spec: SyncSpec, totals: ScanTotals) -> Iterator[list[list]]:
    """The key scan's pages; a failure midway becomes a SourceScanError that says how far it got."""
    if "{{" in spec.extra_filter:
        raise ValueError(f"{spec.path}: extra_filter uses window placeholders, which a whole-form key scan "
                         f"cannot fill; reconciliation of {spec.form_id} needs a filter without them")
    pages: Iterable[list[list]] = client.iter_keys(spec.form_id, key_field=spec.page_key,
                                                   extra_fields=scan_fields(spec), extra_filter=spec.extra_filter)
    try:
        yield from pages
    except Exception as exc:
        raise SourceScanError(
            f"{spec.form_id}: key scan failed after {totals.source_rows} rows (last {spec.key_field}="
            f"{totals.last_source_key}): {exc}. Nothing was healed or soft-deleted: deletes need a "
            f"complete scan.") from exc


def _apply_deletes(healer: Healer, store: TargetStore, run_id: str, candidates: array,
                   report: ReconcileReport) -> None:
    report.deletes_withheld = (delete_guard(len(candidates), report.target_live, report.source_rows,
                                            report.max_delete_share, report.delete_guard_min_rows)
                               or vanished_org_guard(report.use_orgs, report.delete_guard_min_rows,
                                                     report.max_delete_share))
    if report.deletes_withheld:
        logger.error("reconcile %s: deletes withheld: %s. %s", report.form_id, report.deletes_withheld,
                     WITHHELD_ADVICE)
        return
    if not report.applied:
        return
    if candidates:
        # Confirm absence key by key: a row the scan did not return (hidden by a data rule, or
        # synced while the scan ran) is not deleted while a fetch by its key still finds it.
        back = healer.still_at_source(candidates)
        report.reappeared = len(back)
        gone = [k for k in candidates if k not in back]
        # Forgets their staged versions in the same transaction, so no sync run can republish them.
        # A split bill's header goes only with the bill: ``back`` holds every key of the bills still there.
        report.soft_deleted = (store.soft_delete_bills(gone, back, run_id) if store.spec.bill and store.spec.bill.split
                               else store.soft_delete(gone, run_id))
    report.deletes_applied = True
    _tombstone_unpublished(healer, store, run_id, report)


def _tombstone_unpublished(healer: Healer, store: TargetStore, run_id: str, report: ReconcileReport) -> None:
    """Staged rows the target never held and a fetch by key no longer finds (created and deleted
    since the last publish) become soft-deleted tombstones: a run that staged them before this
    reconciliation must not publish them live afterwards. Not deletions of target rows, so outside
    the delete guard's count; they run only when the guard let deletes through (complete scan)."""
    staged = array("q", store.unpublished_staged())
    if staged:
        back = healer.still_at_source(staged)
        report.staged_vanished = store.tombstone_staged([k for k in staged if k not in back], run_id)
