"""Pure pipeline logic (no Dagster): spec → transform → pandera validation → target store."""

from kd_assets.sync.schemas import ValidationResult, clean_schema, raw_schema, source_now, validate
from kd_assets.sync.spec import ColumnSpec, SpecError, SyncSpec, TableNames, load_spec, parse_spec
from kd_assets.sync.store import LandCounts, TargetStore, UpsertCounts, create_target_engine
from kd_assets.sync.synclog import SyncRecord
from kd_assets.sync.transform import CHANGE_TIME, coerce_frame, to_frame

__all__ = [
    "CHANGE_TIME", "ColumnSpec", "LandCounts", "SpecError", "SyncRecord", "SyncSpec", "TableNames",
    "TargetStore", "UpsertCounts", "ValidationResult", "clean_schema", "coerce_frame",
    "create_target_engine", "load_spec", "parse_spec", "raw_schema", "source_now", "to_frame", "validate",
]
