"""Which source changes the target has not absorbed yet: what the change sensor asks.

The target database is the source of truth: a change is pending until the target (or the
quarantine, for rows that failed validation) holds that key with a change time at least as new.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from kd_assets.sync.billspec import line_keys
from kd_assets.sync.spec import SyncSpec
from kd_assets.sync.store import TargetStore

_IN_BATCH = 2_000


@dataclass(frozen=True)
class PendingChange:
    key: int
    change_time: dt.datetime  # naive, source-local: the greatest change field


def newest_synced_change_time(store: TargetStore, now: dt.datetime) -> dt.datetime | None:
    """Greatest change time the target has published, capped at the source's ``now``.

    Where the sensor's probe starts (minus its look-back). The quarantine is left out: a rejected
    row may carry any date (an ``FForbidDate`` in 2030 is rejected as implausible), and a probe
    starting there would see nothing. The cap keeps a future-dated published row from doing the
    same. ``now`` is naive source-local (``source_now``): K3Cloud's WebAPI reports no server time.
    """
    newest = store.newest_change_time()
    if newest is None:
        return None
    return min(pd.Timestamp(newest).to_pydatetime(), pd.Timestamp(now).to_pydatetime())


def keyed_probe_rows(spec: SyncSpec, rows: Sequence[Sequence]) -> list[list]:
    """Probe rows ``[*spec.key_fields, *change fields]`` as ``[key, *change fields]``: a bill's
    (bill id, entry id) become its line key, the key its target rows carry."""
    if not spec.bill:
        return [list(r) for r in rows]
    keys, bad = line_keys([r[0] for r in rows], [r[1] for r in rows])
    return [[int(k), *r[2:]] for k, r, b in zip(keys, rows, bad) if not b]


def probe_change_times(spec_change_fields: Sequence[str], rows: Sequence[Sequence]) -> pd.DataFrame:
    """Probe rows ``[key, *change_fields]`` → frame of key and change_time (greatest field)."""
    frame = pd.DataFrame(list(rows), columns=["key", *spec_change_fields])
    if frame.empty:
        return pd.DataFrame({"key": pd.Series(dtype="int64"), "change_time": pd.Series(dtype="datetime64[ns]")})
    fields = [pd.to_datetime(frame[f], format="ISO8601", errors="coerce") for f in spec_change_fields]
    return pd.DataFrame({"key": frame["key"].astype("int64"),
                         "change_time": pd.concat(fields, axis=1).max(axis=1)}).dropna()


def pending_changes(store: TargetStore, probed: pd.DataFrame) -> list[PendingChange]:
    """Probed rows whose change time is newer than what the target or quarantine holds."""
    stored = _stored_change_times(store, probed["key"].tolist())
    pending = []
    for key, change_time in zip(probed["key"], probed["change_time"]):
        known = stored.get(int(key))
        if known is None or pd.Timestamp(known) < change_time:
            pending.append(PendingChange(int(key), change_time.to_pydatetime()))
    return pending


def _stored_change_times(store: TargetStore, keys: list[int]) -> dict[int, dt.datetime]:
    q = store.tables.quarantine
    found: dict[int, dt.datetime] = {}
    with store.engine.connect() as conn:
        for i in range(0, len(keys), _IN_BATCH):
            batch = keys[i:i + _IN_BATCH]
            published = store.published_change_times(conn, batch)
            rejected = conn.execute(sa.select(q.c.record_key, q.c.change_time)
                                    .where(q.c.record_key.in_([str(k) for k in batch]))).all()
            for key, change_time in [*published, *rejected]:
                if change_time is None:
                    continue
                key = int(key)
                if key not in found or change_time > found[key]:
                    found[key] = change_time
    return found
