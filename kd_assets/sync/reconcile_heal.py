"""Healing found differences: re-fetch rows by key, land, validate, publish; confirm deletes by key.

Rows are fetched in batches of keys and go through the same write-audit-publish steps as a sync
run (landing, pandera validation, quarantine, clean staging, target upsert), so a healed row is
indistinguishable from a synced one. Rows already quarantined at the same change time are not
fetched again: re-rejecting a known bad row every day would only keep the check yellow.
"""

from __future__ import annotations

import datetime as dt
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field

import logging

import pandas as pd
import sqlalchemy as sa

from kd_assets.sync.billspec import bill_of, line_keys
from kd_assets.sync.rejectgate import RejectGate
from kd_assets.sync.schemas import validate
from kd_assets.sync.spec import SyncSpec
from kd_assets.sync.store import TargetStore
from kd_assets.sync.transform import to_frame
from kd_assets.sync.upsert import UpsertCounts

logger = logging.getLogger("kd_assets.sync.reconcile")

# Landing, clean and quarantine rows written by reconciliation carry this partition key.
RECONCILE_PARTITION = "reconciliation"
DEFAULT_HEAL_BATCH = 2000


@dataclass
class HealCounts:
    """What healing one kind of difference did with its keys."""

    upserted: UpsertCounts = field(default_factory=UpsertCounts)
    quarantined: int = 0      # fetched, failed validation: kept in quarantine
    known_rejects: int = 0    # already quarantined at the same change time: not fetched again
    vanished: int = 0         # gone from the source between the scan and the fetch
    withheld: int = 0         # valid rows of batches the reject gate held back: not published

    def __add__(self, other: "HealCounts") -> "HealCounts":
        return HealCounts(self.upserted + other.upserted, self.quarantined + other.quarantined,
                          self.known_rejects + other.known_rejects, self.vanished + other.vanished,
                          self.withheld + other.withheld)

    @property
    def healed(self) -> int:
        """Rows the target now holds as the source has them (written, or found current)."""
        return self.upserted.total

    @property
    def changed(self) -> int:
        return self.upserted.inserted + self.upserted.updated


@dataclass
class Healer:
    """Re-fetches rows by key from Kingdee and publishes them to the target."""

    client: object  # K3CloudClient (duck-typed: fetch_by_keys)
    store: TargetStore
    spec: SyncSpec
    run_id: str
    now: pd.Timestamp
    batch: int = DEFAULT_HEAL_BATCH
    gate: RejectGate = field(default_factory=RejectGate)

    def heal(self, keys: array, change_ns: array, *, force: bool) -> HealCounts:
        """Fetch and publish ``keys``; ``force`` overwrites whatever change time the target holds."""
        total = HealCounts()
        for start in range(0, len(keys), self.batch):
            batch_keys = keys[start:start + self.batch].tolist()
            batch_ns = change_ns[start:start + self.batch].tolist()
            known = self.known_rejects(batch_keys, batch_ns)
            wanted = [k for k in batch_keys if k not in known]
            total += self._publish(wanted, force) + HealCounts(known_rejects=len(known))
        return total

    def _publish(self, keys: list[int], force: bool) -> HealCounts:
        if not keys:
            return HealCounts()
        spec, store = self.spec, self.store
        # Read before fetching: a forced write may overwrite these versions, never one a concurrent
        # run publishes after our fetch (it would be newer than what we fetched).
        force_upto = store.change_times(keys) if force else {}
        rows = [row for page in self.client.fetch_by_keys(spec.form_id, spec.field_keys, self._fetch_keys(keys),
                                                          key_field=spec.page_key)
                for row in page]
        counts = HealCounts(vanished=len(set(keys) - self._row_keys(rows)) if spec.bill else len(keys) - len(rows))
        if not rows:
            return counts
        if force:
            store.forget_staged(keys)
        return counts + self.publish_rows(rows, force_upto)

    def _fetch_keys(self, keys: list[int]) -> list[int]:
        """What to fetch by: the keys, or a bill spec's bill ids (every line of the bill comes)."""
        return sorted({bill_of(k) for k in keys}) if self.spec.bill else keys

    def _row_keys(self, rows: list[list]) -> set[int]:
        """Line keys of fetched bill rows (bill id first, entry id at its field position)."""
        entry = self.spec.field_keys.index(self.spec.bill.entry_key_field)
        keys, bad = line_keys([r[0] for r in rows], [r[entry] for r in rows])
        return set(keys[~bad].tolist())

    def publish_rows(self, rows: list[list], force_upto: Mapping[int, dt.datetime] | None = None) -> HealCounts:
        """Land, validate, quarantine, stage and upsert rows already fetched (in FieldKeys order);
        ``force_upto`` as in ``TargetStore.upsert_target``."""
        spec, store = self.spec, self.store
        store.land_rows(rows, self.run_id, RECONCILE_PARTITION)
        result = validate(spec, to_frame(spec, rows), self.now)
        counts = HealCounts(quarantined=store.quarantine(result.rejects, self.run_id, RECONCILE_PARTITION))
        # The gate a sync run's clean_schema check applies, per heal batch: a batch it blocks
        # publishes nothing, and its rows stay unresolved (the check fails and alerts).
        if blocked := self.gate.blocks(len(result.rejects), len(rows)):
            logger.error("reconcile %s: heal batch of %d rows withheld: %s", spec.form_id, len(rows), blocked)
            counts.withheld = len(result.clean)
            return counts
        store.write_clean(result.clean, self.run_id, RECONCILE_PARTITION)
        counts.upserted = store.upsert_target(result.clean, self.run_id, force_upto=force_upto)
        return counts

    def known_rejects(self, keys: list[int], change_ns: list[int]) -> set[int]:
        """Keys quarantined (in any partition) at exactly the change time the scan saw."""
        wanted = {str(k): (k, ns) for k, ns in zip(keys, change_ns)}
        t = self.store.tables.quarantine
        with self.store.engine.connect() as conn:
            found = conn.execute(sa.select(t.c.record_key, t.c.change_time)
                                 .where(t.c.record_key.in_(list(wanted)))).all()
        known = set()
        for record_key, stamp in found:
            key, ns = wanted[record_key]
            stored = None if stamp is None else int(pd.Timestamp(stamp).value)
            if stored == (None if ns == NO_TIME else ns):
                known.add(key)
        return known

    def still_at_source(self, keys: array) -> set[int]:
        """Of the delete candidates, those a fetch by key still finds (created or restored meanwhile)."""
        found: set[int] = set()
        spec = self.spec
        for start in range(0, len(keys), self.batch):
            chunk = keys[start:start + self.batch].tolist()
            if spec.bill:
                fields = list(spec.page_key)
                for page in self.client.fetch_by_keys(spec.form_id, fields, self._fetch_keys(chunk),
                                                      key_field=spec.page_key):
                    keys, bad = line_keys([r[0] for r in page], [r[1] for r in page])
                    found.update(keys[~bad].tolist())
                continue
            for page in self.client.fetch_by_keys(spec.form_id, [spec.key_field], chunk, key_field=spec.key_field):
                found.update(int(row[0]) for row in page)
        return found


# Key arrays hold change times as int64 nanoseconds; this marks "no change time".
NO_TIME = -(2**63)
