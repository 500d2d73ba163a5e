"""``KingdeeFormSync``: one Kingdee form, configured in a ``defs.yaml``, becomes Dagster definitions.

A minimal instance (``kd_assets/forms/<form>/defs.yaml``)::

    type: kd_assets.KingdeeFormSync
    attributes:
      spec: bd_supplier        # kd_assets/specs/bd_supplier.yaml, a path next to this file, or a mapping
      name: suppliers          # names: kingdee_suppliers_raw / _clean / _sync / _change_sensor …

``build_form`` below is the one place that says how a form becomes assets, checks, jobs,
sensors and schedules; each builder lives in the module of its concern.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional, Union

import dagster as dg
from pydantic import BaseModel, Field, PrivateAttr, field_validator

from kd_assets.defs.alerts import build_check_alert_sensor
from kd_assets.defs.assets import build_sync_assets
from kd_assets.defs.checks import build_checks
from kd_assets.defs.jobs import build_resync_schedule, build_sync_job
from kd_assets.defs.reconciliation import build_reconcile_job, build_reconcile_schedule, build_reconciliation_asset
from kd_assets.defs.sensors import build_change_sensor
from kd_assets.defs.settings import (
    KINGDEE_POOL, AlertRouting, FormNames, FormSettings, ScheduleSettings, SensorSettings, Thresholds, from_env,
)
from kd_assets.defs.partitions import sync_start
from kd_assets.kingdee.filters import combine, in_predicate
from kd_assets.sync import SpecError, SyncSpec, load_spec, parse_spec

NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def _text(value: Any, where: str) -> Any:
    """Org numbers and dates as text: templating turns ``100`` (even quoted) into an int and an
    unquoted ``2024-01-01`` is a date; ``0100`` stays text only when quoted."""
    if isinstance(value, bool):
        raise ValueError(f"{where}: expected text, got {value!r}")
    if isinstance(value, (int, dt.date)):
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    return value


def _resolve_text(context: dg.ResolutionContext, value: Any) -> Any:
    return _text(context.resolve_value(value), "value")


def _resolve_texts(context: dg.ResolutionContext, value: Any) -> Any:
    return [_text(v, f"[{i}]") for i, v in enumerate(context.resolve_value(value) or [])]


class SensorAttributes(dg.Model, dg.Resolvable):
    interval_s: Optional[int] = Field(None, description="Seconds between ticks (else KD_SENSOR_INTERVAL_S, 30)")
    lag_s: Optional[float] = Field(None, description="Look-back below the newest synced change (else "
                                                     "KD_SENSOR_LAG_S, two days)")
    max_probe_rows: Optional[int] = Field(None, description="Rows one probe may read (else "
                                                            "KD_SENSOR_MAX_PROBE_ROWS, 10000)")
    running: bool = Field(True, description="Sensor on by default")


class ThresholdAttributes(dg.Model, dg.Resolvable):
    max_reject_share: Optional[float] = Field(None, ge=0, le=1, description="Blocks publishing above this "
                                                                            "(else KD_MAX_REJECT_SHARE, 0.05)")
    warn_reject_share: Optional[float] = Field(None, ge=0, le=1, description="Warns above this (else "
                                                                             "KD_WARN_REJECT_SHARE, 0.01)")
    reject_gate_min_rows: Optional[int] = Field(None, ge=0, description="Rejects up to this many never block "
                                                                        "(else KD_REJECT_GATE_MIN_ROWS, 10)")
    verify_days: Optional[int] = Field(None, ge=0, le=366, description="Reconciliation re-reads every row's "
                                       "content over this many days; 0 = off (else KD_VERIFY_DAYS, 7)")
    max_delete_share: Optional[float] = Field(None, ge=0, le=1, description="Withholds soft-deletes above this "
                                                                            "(else KD_MAX_DELETE_SHARE, 0.05)")
    delete_guard_min_rows: Optional[int] = Field(None, ge=0, description="Deletes up to this many always pass "
                                                                         "(else KD_DELETE_GUARD_MIN_ROWS, 10)")


class ScheduleAttributes(dg.Model, dg.Resolvable):
    cron: Optional[str] = Field(None, description="Cron in the source time zone (reconciliation: else "
                                                  "KD_RECONCILE_CRON, 30 2 * * *)")
    running: bool = Field(True, description="Schedule on by default")


class AlertAttributes(dg.Model, dg.Resolvable):
    webhook_env: str = Field("KD_ALERT_WEBHOOK", description="Variable holding this form's webhook URL")
    secret_env: str = Field("KD_ALERT_SECRET", description="Variable holding its signing secret")
    format: Optional[str] = Field(None, description="dingtalk, wecom, feishu, slack or json (else KD_ALERT_FORMAT)")


class NameAttributes(dg.Model, dg.Resolvable):
    """Overrides of single names; by default they all derive from ``name`` and the target table."""

    group: Optional[str] = None
    raw: Optional[str] = None
    clean: Optional[str] = None
    target: Optional[str] = None
    reconciliation: Optional[str] = None
    sync_job: Optional[str] = None
    reconcile_job: Optional[str] = None
    change_sensor: Optional[str] = None
    resync_schedule: Optional[str] = None
    reconcile_schedule: Optional[str] = None
    alert_sensor: Optional[str] = None


class ScaffoldParams(BaseModel):
    spec: str = Field(description="Spec name in kd_assets/specs, or a .yaml path next to the new defs.yaml")
    name: Optional[str] = Field(None, description="Short name (default: the new folder's name)")


class KingdeeFormSyncScaffolder(dg.Scaffolder[ScaffoldParams]):
    """``dg scaffold defs kd_assets.KingdeeFormSync <folder> --spec <spec>`` writes a starter defs.yaml."""

    @classmethod
    def get_scaffold_params(cls) -> type[ScaffoldParams]:
        return ScaffoldParams

    def scaffold(self, request: dg.ScaffoldRequest[ScaffoldParams]) -> None:
        name = request.params.name or request.target_path.name.replace("-", "_").lower()
        dg.scaffold_component(request, {"spec": request.params.spec, "name": name})


@dg.scaffold_with(KingdeeFormSyncScaffolder)
class KingdeeFormSync(dg.Component, dg.Model, dg.Resolvable):
    """Keeps one Kingdee K3Cloud form in step with a MySQL table: raw → clean → target →
    reconciliation, partitioned checks, a sync job, a change sensor, a nightly re-sync, a
    reconciliation schedule and an alert sensor, all named from ``name`` and the spec.

    Add a form: write its spec (``kd_assets/specs/<form>.yaml``) and a ``defs.yaml`` with
    ``type: kd_assets.KingdeeFormSync`` in a folder of ``kd_assets/forms/``; ``dg list defs``
    then shows its definitions.
    """

    # Passthrough: a spec's extra_filter may hold {{LAST_SYNC_TIME|datetime}}, which is not Jinja.
    spec: Annotated[Union[str, dict[str, Any]], dg.Resolver.passthrough(
        description="Spec name in kd_assets/specs, a .yaml path relative to this defs.yaml, or the spec inline")]
    name: Optional[str] = Field(None, description="Short name; objects are named kingdee_<name>_… "
                                                  "(default: the spec's name)")
    # YAML may hold ints and dates here (templating makes them): the resolvers turn them into text.
    sync_start: Annotated[Optional[str], dg.Resolver(
        _resolve_text, model_field_type=Optional[Union[str, dt.date]],
        description="First partition, YYYY-MM-DD (else KD_SYNC_START, 2024-01-01)")] = None
    use_orgs: Annotated[list[str], dg.Resolver(
        _resolve_texts, model_field_type=list[Union[str, int]],
        description="Only rows of these use-org numbers (FUseOrgId.FNumber); quote numbers with leading zeros")] = []
    pool: str = Field(KINGDEE_POOL, description="Dagster pool of the Kingdee-calling steps (one per ERP server)")
    sensor: SensorAttributes = Field(default_factory=SensorAttributes)
    thresholds: ThresholdAttributes = Field(default_factory=ThresholdAttributes)
    resync_schedule: ScheduleAttributes = Field(default_factory=ScheduleAttributes)
    reconcile_schedule: ScheduleAttributes = Field(default_factory=ScheduleAttributes)
    alerts: AlertAttributes = Field(default_factory=AlertAttributes)
    names: NameAttributes = Field(default_factory=NameAttributes)

    _defs_dir: Optional[Path] = PrivateAttr(default=None)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not NAME.match(value):
            raise ValueError(f"name must match {NAME.pattern} (it becomes part of asset and job names), got {value!r}")
        return value

    @classmethod
    def load(cls, attributes, context: dg.ComponentLoadContext) -> KingdeeFormSync:
        component = super().load(attributes, context)
        component._defs_dir = context.path
        return component

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return build_form(self.form_settings()).definitions()

    def form_settings(self) -> FormSettings:
        """This instance's settings, typed; a bad spec fails naming its file and YAML path."""
        spec = self._load_spec()
        if self.use_orgs and spec.bill:
            raise SpecError(f"{(self._defs_dir or Path.cwd()) / 'defs.yaml'}: attributes.use_orgs: {spec.form_id} is a "
                            f"bill and has no use-org (FUseOrgId); filter on its own org field in the spec's "
                            f"extra_filter instead, e.g. \"FSaleOrgId.FNumber in ('100')\"")
        if self.use_orgs:
            orgs = in_predicate("FUseOrgId.FNumber", self.use_orgs)
            spec = dataclasses.replace(spec, extra_filter=combine(spec.extra_filter, orgs))
        name = self.name or spec.name
        names = FormNames.derive(f"kingdee_{name}", spec.tables.target, **self.names.model_dump())
        return FormSettings(
            name=name, spec=spec, names=names, sync_start=sync_start(self.sync_start),
            pool=self.pool,
            sensor=SensorSettings(**self.sensor.model_dump()),
            thresholds=Thresholds(**self.thresholds.model_dump()),
            resync=ScheduleSettings(self.resync_schedule.cron or "15 0 * * *", self.resync_schedule.running),
            reconcile=ScheduleSettings(from_env(self.reconcile_schedule.cron, "KD_RECONCILE_CRON", "30 2 * * *", str),
                                       self.reconcile_schedule.running),
            alerts=AlertRouting(**self.alerts.model_dump()),
        )

    def _load_spec(self) -> SyncSpec:
        """The spec by name, by path (relative to this defs.yaml) or inline; errors name the
        defs.yaml, the spec file and the YAML path of the mistake."""
        here = self._defs_dir or Path.cwd()
        defs_file = here / "defs.yaml"
        if isinstance(self.spec, dict):
            try:
                return parse_spec(self.spec, defs_file, name=self.name or "form")
            except SpecError as exc:
                raise SpecError(str(exc).replace(f"{defs_file}: ", f"{defs_file}: attributes.spec.", 1)) from None
        try:
            return load_spec(here / self.spec if self.spec.endswith((".yaml", ".yml")) else self.spec)
        except SpecError as exc:
            raise SpecError(f"{defs_file}: attributes.spec ({self.spec}): {exc}") from None


@dataclass(frozen=True)
class FormDefinitions:
    """Everything one form contributes, by role (tests and the code location pick pieces)."""

    settings: FormSettings
    sync_assets: list
    checks: list
    reconciliation: dg.AssetsDefinition
    sync_job: Any
    reconcile_job: Any
    change_sensor: dg.SensorDefinition
    resync_schedule: dg.ScheduleDefinition
    reconcile_schedule: dg.ScheduleDefinition
    alert_sensor: dg.SensorDefinition

    def definitions(self) -> dg.Definitions:
        return dg.Definitions(
            assets=[*self.sync_assets, self.reconciliation], asset_checks=self.checks,
            jobs=[self.sync_job, self.reconcile_job], sensors=[self.change_sensor, self.alert_sensor],
            schedules=[self.resync_schedule, self.reconcile_schedule],
        )


def build_form(form: FormSettings) -> FormDefinitions:
    """How a form becomes assets: raw → clean → target (partitioned, checked), reconciliation;
    a sync job run by the change sensor and the nightly re-sync; a reconcile job on its schedule;
    and an alert sensor for its ERROR checks and freshness."""
    sync_job = build_sync_job(form)
    reconcile_job = build_reconcile_job(form)
    return FormDefinitions(
        settings=form,
        sync_assets=build_sync_assets(form),
        checks=build_checks(form),
        reconciliation=build_reconciliation_asset(form),
        sync_job=sync_job,
        reconcile_job=reconcile_job,
        change_sensor=build_change_sensor(form, sync_job),
        resync_schedule=build_resync_schedule(form, sync_job),
        reconcile_schedule=build_reconcile_schedule(form, reconcile_job),
        alert_sensor=build_check_alert_sensor(form),
    )
