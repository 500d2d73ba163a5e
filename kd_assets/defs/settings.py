"""One form's settings, typed: its spec, the names of its Dagster objects, and its knobs.

Every builder in ``defs/`` takes a :class:`FormSettings`; the component (``component.py``) makes
one from a ``defs.yaml``. A value set in YAML wins; otherwise the ``KD_*`` variable that set it
before forms were configurable, read when it is needed (thresholds at run time, so a changed
variable applies to the next run), else the built-in default.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Optional, TypeVar

import dagster as dg

from kd_assets.alerting import AlertSettings
from kd_assets.defs.partitions import change_partitions, source_timezone
from kd_assets.sync import SyncSpec
from kd_assets.sync.rejectgate import RejectGate
from kd_assets.sync.verify_scope import verify_days_from_env

# One pool for every form's Kingdee-calling steps: they all load the same ERP server (the one
# KingdeeResource points at), so its limit in dagster.yaml caps the load on that server.
KINGDEE_POOL = "kingdee_api"

T = TypeVar("T")


def from_env(value: Optional[T], var: str, default: T, parse: Callable[[str], T]) -> T:
    """``value`` when set (YAML), else the environment variable ``var``, else ``default``."""
    if value is not None:
        return value
    raw = os.environ.get(var, "").strip()
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError:
        raise ValueError(f"{var} must be a {getattr(parse, '__name__', 'value')}, got {raw!r}") from None


@dataclass(frozen=True)
class FormNames:
    """The names of one form's Dagster objects; ``prefix`` is e.g. ``kingdee_customers``."""

    group: str
    raw: str
    clean: str
    target: str
    reconciliation: str
    sync_job: str
    reconcile_job: str
    change_sensor: str
    resync_schedule: str
    reconcile_schedule: str
    alert_sensor: str

    @classmethod
    def derive(cls, prefix: str, target_table: str, **overrides: Optional[str]) -> FormNames:
        names = dict(
            group=prefix, raw=f"{prefix}_raw", clean=f"{prefix}_clean", target=target_table,
            reconciliation=f"{target_table}_reconciliation", sync_job=f"{prefix}_sync",
            reconcile_job=f"{prefix}_reconcile", change_sensor=f"{prefix}_change_sensor",
            resync_schedule=f"{prefix}_daily_resync", reconcile_schedule=f"{prefix}_reconcile_daily",
            alert_sensor=f"{prefix}_alert_on_checks_and_freshness",
        )
        names.update({k: v for k, v in overrides.items() if v})
        return cls(**names)


@dataclass(frozen=True)
class SensorSettings:
    """The change sensor: tick interval (fixed when definitions load) and probe bounds."""

    interval_s: Optional[int] = None
    lag_s: Optional[float] = None
    max_probe_rows: Optional[int] = None
    running: bool = True

    def interval(self) -> int:
        """Seconds between ticks (KD_SENSOR_INTERVAL_S, default 30)."""
        return int(from_env(self.interval_s, "KD_SENSOR_INTERVAL_S", 30, float))

    def lag(self) -> dt.timedelta:
        """Look-back below the newest synced change time (KD_SENSOR_LAG_S, default two days).

        It covers rows committed late with an older change time, and changes left behind when a
        tick was lost while a newer partition synced (e.g. by the nightly re-sync). The probe
        returns only keys and change times, and rows the target already holds cost one lookup each.
        """
        return dt.timedelta(seconds=from_env(self.lag_s, "KD_SENSOR_LAG_S", 2 * 86400.0, float))

    def max_rows(self) -> int:
        """Rows one probe may read, each bill line counting as one; the rest are found by the next
        ticks (KD_SENSOR_MAX_PROBE_ROWS)."""
        return int(from_env(self.max_probe_rows, "KD_SENSOR_MAX_PROBE_ROWS", 10_000, float))

    @staticmethod
    def failed_lookback() -> dt.timedelta:
        """How far back failed sync runs keep the probe open (KD_SENSOR_FAILED_LOOKBACK_DAYS, 7)."""
        return dt.timedelta(days=from_env(None, "KD_SENSOR_FAILED_LOOKBACK_DAYS", 7.0, float))


@dataclass(frozen=True)
class Thresholds:
    """Reject and delete shares; each falls back to its KD_* variable, read at run time."""

    max_reject_share: Optional[float] = None
    warn_reject_share: Optional[float] = None
    reject_gate_min_rows: Optional[int] = None
    max_delete_share: Optional[float] = None
    delete_guard_min_rows: Optional[int] = None
    verify_days: Optional[int] = None

    def reject_gate(self) -> RejectGate:
        """Blocks a batch whose rejects exceed both the share and the floor (KD_MAX_REJECT_SHARE,
        KD_REJECT_GATE_MIN_ROWS); the sync's clean_schema check and reconciliation's heals ask it."""
        env = RejectGate.from_env()
        return RejectGate(env.max_share if self.max_reject_share is None else self.max_reject_share,
                          env.min_rejects if self.reject_gate_min_rows is None else self.reject_gate_min_rows)

    def content_verify_days(self) -> int:
        """Days over which reconciliation re-reads every row's content (KD_VERIFY_DAYS, 7; 0 = off)."""
        return verify_days_from_env() if self.verify_days is None else self.verify_days

    def warn_reject(self) -> float:
        """Share of rejected rows above which the reject-rate check warns (KD_WARN_REJECT_SHARE)."""
        return from_env(self.warn_reject_share, "KD_WARN_REJECT_SHARE", 0.01, float)


@dataclass(frozen=True)
class ScheduleSettings:
    cron: str
    running: bool = True

    @property
    def default_status(self) -> dg.DefaultScheduleStatus:
        return dg.DefaultScheduleStatus.RUNNING if self.running else dg.DefaultScheduleStatus.STOPPED


@dataclass(frozen=True)
class AlertRouting:
    """Where this form's alerts go: the names of the variables holding webhook and secret (so no
    secret is written in YAML), and the message format (else KD_ALERT_FORMAT, else json)."""

    webhook_env: str = "KD_ALERT_WEBHOOK"
    secret_env: str = "KD_ALERT_SECRET"
    format: Optional[str] = None

    def settings(self) -> AlertSettings:
        env = dict(os.environ)
        env["KD_ALERT_WEBHOOK"] = os.environ.get(self.webhook_env, "")
        env["KD_ALERT_SECRET"] = os.environ.get(self.secret_env, "")
        if self.format:
            env["KD_ALERT_FORMAT"] = self.format
        return AlertSettings.from_env(env)


@dataclass(frozen=True)
class FormSettings:
    """Everything the builders need to turn one Kingdee form into Dagster definitions."""

    name: str
    spec: SyncSpec
    names: FormNames
    sync_start: str
    pool: str = KINGDEE_POOL
    sensor: SensorSettings = field(default_factory=SensorSettings)
    thresholds: Thresholds = field(default_factory=Thresholds)
    resync: ScheduleSettings = field(default_factory=lambda: ScheduleSettings("15 0 * * *"))
    reconcile: ScheduleSettings = field(default_factory=lambda: ScheduleSettings("30 2 * * *"))
    alerts: AlertRouting = field(default_factory=AlertRouting)

    @cached_property
    def partitions(self) -> dg.DailyPartitionsDefinition:
        """Daily partitions on change time, from this form's first day (partitions.py)."""
        return change_partitions(self.sync_start)

    @property
    def timezone(self) -> str:
        return source_timezone()

    def run_tags(self, partition: Optional[str] = None, range_end: Optional[str] = None) -> dict[str, str]:
        """Tags on this form's runs: ``kd/form`` routes alerts; ``kd/form_partition`` is the
        run-queue key in dagster.yaml (one run per form and day, forms never wait for each other).
        A range run (``range_end`` set) is keyed ``<form>:range``: one range of a form at a time; a
        day inside a queued or running range is held back by the change sensor itself."""
        tags = {"kd/form": self.name}
        if partition is not None:
            tags["kd/form_partition"] = f"{self.name}:{'range' if range_end else partition}"
        return tags
