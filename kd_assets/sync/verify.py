"""Content verification: re-read the spec's columns from Kingdee and compare them with the target.

Kingdee plug-ins and DBA scripts update base-data tables directly, and a second edit within the
same second as an already synced one moves no change time (most stamps have no milliseconds):
neither the change sensor nor the key/change-time/status reconciliation sees either, so the target
would stay wrong for good (DESIGN §4b). Verification reads every spec field of the rows in a key
range (:mod:`.verify_scope`), converts and validates them exactly as a sync does (``to_frame`` +
``validate``), digests each row's spec columns on both sides (``row_signature`` over the typed
values, the target's read back through ``coerce_frame``: decimals quantized to their scale and -0
as 0, datetimes at the column's precision, '' and ' ' as NULL, so one value digests alike whether
read from Kingdee, MariaDB or SQLite) and compares them key by key.

Rows whose content differs are published through reconciliation's heal path (land, validate,
stage, guarded upsert: the ``>=`` guard lets a same-change-time version through); rows that now
fail validation go to quarantine. Rows missing on either side are counted and left to the key
reconciliation. Memory: one Kingdee page and one target chunk of the same size at a time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kd_assets.kingdee.errors import KingdeeError
from kd_assets.sync.reconcile_heal import NO_TIME, HealCounts, Healer
from kd_assets.sync.rejectgate import RejectGate
from kd_assets.sync.schemas import validate
from kd_assets.sync.spec import SyncSpec
from kd_assets.sync.sqltext import row_signature
from kd_assets.sync.store import TargetStore
from kd_assets.sync.transform import to_frame
from kd_assets.sync.verify_scope import ContentScope

logger = logging.getLogger("kd_assets.sync.verify")

SAMPLE_SIZE = 20
DIGEST = "_digest"


@dataclass
class ContentReport:
    """What one content verification read, found and healed."""

    scope: str
    applied: bool
    source_rows: int = 0         # rows read from Kingdee in the scope
    checked: int = 0             # valid at the source and live in the target: compared
    differs: int = 0             # compared rows whose content differs
    new_rejects: int = 0         # fail validation now, not yet quarantined at their change time
    known_rejects: int = 0       # already quarantined at their change time
    missing_in_target: int = 0   # valid at the source, absent or soft-deleted in the target
    missing_at_source: int = 0   # live in the target, absent from the source read
    heal: HealCounts = field(default_factory=HealCounts)
    samples: list[dict] = field(default_factory=list)  # {key, columns} of differing rows, key order
    pages: int = 0
    max_rows_held: int = 0       # source page + target chunk, the most held at once
    failed: str | None = None    # the Kingdee error that stopped the read midway

    @property
    def healed(self) -> int:
        return self.heal.changed

    @property
    def unresolved(self) -> int:
        """Differences and new rejects not written (dry run, vanished meanwhile), +1 for a failure."""
        found = self.differs + self.new_rejects
        done = self.heal.upserted.total + self.heal.quarantined + self.heal.vanished if self.applied else 0
        return max(found - done, 0) + (self.failed is not None)

    def summary(self) -> str:
        text = (f"Content ({self.scope}): {self.source_rows} source rows, {self.checked} compared, "
                f"{self.differs} differed, {self.new_rejects} newly invalid")
        if self.applied:
            text += f"; healed {self.healed}, quarantined {self.heal.quarantined}"
            if self.heal.withheld:
                text += f", {self.heal.withheld} withheld by the reject gate"
        text += "."
        if self.missing_in_target or self.missing_at_source:
            text += (f" Left to reconciliation: {self.missing_in_target} missing in the target, "
                     f"{self.missing_at_source} missing at the source.")
        if self.failed:
            text += f" Verification stopped: {self.failed}."
        return text

    def metadata(self) -> dict:
        """Plain values (ints, text, JSON lists) for Dagster metadata, named content_*."""
        return {"content_scope": self.scope, "content_source_rows": self.source_rows,
                "content_checked": self.checked, "content_differs": self.differs,
                "content_healed": self.healed, "content_quarantined": self.heal.quarantined,
                "content_known_rejects": self.known_rejects,
                "content_missing_in_target": self.missing_in_target,
                "content_missing_at_source": self.missing_at_source,
                "content_healed_samples": self.samples, "content_failed": self.failed or "no"}

    def note_difference(self, key: int, columns: list[str]) -> None:
        self.differs += 1
        if len(self.samples) < SAMPLE_SIZE:
            self.samples.append({"key": key, "columns": columns})


def verify_content(client, store: TargetStore, spec: SyncSpec, run_id: str, scope: ContentScope, *,
                   now: pd.Timestamp, apply: bool = True, healer: Healer | None = None) -> ContentReport:
    """Compare the spec columns of every source row in ``scope`` with the target; heal differences.

    ``apply=False`` only reports. A Kingdee failure midway stops the read and is reported in
    ``failed`` (what was healed before stays healed: each heal is a guarded, idempotent upsert).
    """
    report = ContentReport(scope=scope.describe(spec), applied=apply)
    healer = healer or Healer(client, store, spec, run_id, now, gate=RejectGate.from_env())
    chunk_size = client.config.effective_page_size
    after = None  # the last source key compared: target keys up to it are done
    try:
        for page in source_pages(client, spec, scope):
            source = SourcePage.convert(spec, page, now)
            report.source_rows += len(page)
            report.pages += 1
            to_publish = _compare_page(report, spec, source,
                                       target_chunks(store, scope, after, source.last_key, chunk_size), healer)
            if apply and to_publish:
                _invalidate_signatures(store, [k for k in to_publish if k in source.clean_keys])
                report.heal += healer.publish_rows([source.rows[source.position[k]] for k in to_publish])
            after = source.last_key
        for chunk in target_chunks(store, scope, after, None, chunk_size):
            report.missing_at_source += int((~chunk["is_deleted"].astype(bool)).sum())
    except KingdeeError as exc:
        report.failed = f"{type(exc).__name__} after {report.source_rows} rows (last {spec.key_field}={after}): {exc}"
        logger.error("content verification of %s: %s", spec.form_id, report.failed)
    logger.info("verify %s: %s", spec.form_id, report.summary())
    return report


@dataclass
class SourcePage:
    """One Kingdee page converted and validated as a sync would, with a digest per valid row."""

    rows: list[list]                 # raw rows, FieldKeys order
    position: dict[int, int]         # key → index in rows
    clean: pd.DataFrame              # valid rows, typed, indexed by key, with DIGEST
    reject_keys: list[int]
    reject_change_ns: list[int]
    last_key: int

    @property
    def clean_keys(self) -> pd.Index:
        return self.clean.index

    @classmethod
    def convert(cls, spec: SyncSpec, rows: list[list], now: pd.Timestamp) -> "SourcePage":
        frame = to_frame(spec, rows)
        keys = frame[spec.key_column]
        position = {int(k): i for i, k in enumerate(keys) if not pd.isna(k)}
        result = validate(spec, frame, now)
        clean = result.clean.assign(**{DIGEST: row_signature(spec, result.clean)})
        clean.index = pd.Index(clean[spec.key_column].astype("int64"), name=None)
        rejects = [(int(k), NO_TIME if pd.isna(t) else int(pd.Timestamp(t).value))
                   for k, t in zip(result.rejects["key"], result.rejects["change_time"]) if str(k).lstrip("-").isdigit()]
        return cls(rows=rows, position=position, clean=clean, reject_keys=[k for k, _ in rejects],
                   reject_change_ns=[t for _, t in rejects], last_key=max(position))


def _compare_page(report: ContentReport, spec: SyncSpec, source: SourcePage, chunks: Iterator[pd.DataFrame],
                  healer: Healer) -> list[int]:
    """Compare one source page with the target rows of its key interval; returns keys to publish."""
    key = spec.key_column
    page_keys = source.clean_keys.union(pd.Index(source.reject_keys, dtype="int64"))
    compared: list[np.ndarray] = []
    differing: list[int] = []
    for target in chunks:
        report.max_rows_held = max(report.max_rows_held, len(source.rows) + len(target))
        target_keys = target[key].astype("int64").to_numpy()
        live = ~target["is_deleted"].astype(bool).to_numpy()
        report.missing_at_source += int((live & ~np.isin(target_keys, page_keys)).sum())
        pairs = live & np.isin(target_keys, source.clean_keys)
        if not pairs.any():
            continue
        target = target[pairs].set_index(target_keys[pairs])
        compared.append(target.index.to_numpy())
        ours = source.clean.loc[target.index]
        differ = ours[DIGEST].to_numpy() != row_signature(spec, target)
        for k in target.index[differ]:
            report.note_difference(int(k), differing_columns(spec, ours.loc[k], target.loc[k]))
            differing.append(int(k))
    seen = np.concatenate(compared) if compared else np.array([], dtype="int64")
    report.checked += len(seen)
    report.missing_in_target += int((~np.isin(source.clean_keys, seen)).sum())
    known = healer.known_rejects(source.reject_keys, source.reject_change_ns) if source.reject_keys else set()
    new_rejects = [k for k in source.reject_keys if k not in known]
    report.known_rejects += len(known)
    report.new_rejects += len(new_rejects)
    return differing + new_rejects


def differing_columns(spec: SyncSpec, source: pd.Series, target: pd.Series) -> list[str]:
    """The spec columns whose typed values differ between two rows (NULL equals NULL)."""
    out = []
    for col in spec.columns:
        a, b = source[col.name], target[col.name]
        a_missing, b_missing = pd.isna(a), pd.isna(b)
        if a_missing or b_missing:
            if a_missing != b_missing:
                out.append(col.name)
        elif a != b:
            out.append(col.name)
    return out


def source_pages(client, spec: SyncSpec, scope: ContentScope) -> Iterator[list[list]]:
    """Keyset pages of every spec field of the rows in ``scope``, in FieldKeys order."""
    if "{{" in spec.extra_filter:
        raise ValueError(f"{spec.path}: extra_filter uses window placeholders, which a key-range read "
                         f"cannot fill; content verification of {spec.form_id} needs a filter without them")
    key_fields = [spec.page_key] if isinstance(spec.page_key, str) else list(spec.page_key)
    others = [f for f in spec.field_keys if f not in key_fields]
    fetched = [*key_fields, *others]
    order = [fetched.index(f) for f in spec.field_keys]
    in_order = order == list(range(len(order)))
    for page in client.iter_keys(spec.form_id, key_field=spec.page_key, extra_fields=others,
                                 extra_filter=scope.kingdee_filter(spec)):
        if page:
            yield page if in_order else [[row[i] for i in order] for row in page]


def target_chunks(store: TargetStore, scope: ContentScope, after: int | None, upto: int | None,
                  size: int) -> Iterator[pd.DataFrame]:
    """Target rows with keys in ``(after, upto]`` within ``scope``, by keyset, typed like ``to_frame``."""
    def bounds(key):
        lower = [key > after] if after is not None else [key >= scope.lo] if scope.lo is not None else []
        upper = [key <= upto] if upto is not None else [key < scope.hi] if scope.hi is not None else []
        return sa.and_(sa.true(), *lower, *upper)
    return store.iter_target(bounds, size)


def _invalidate_signatures(store: TargetStore, keys: list[int]) -> None:
    """Forget the stored row signature of rows found to differ, so the upsert rewrites them even
    when the difference is in the target (edited there) and the incoming signature matches."""
    if keys:
        store.forget_signatures(keys)
