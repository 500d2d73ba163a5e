"""The Dagster side of the randomized end-to-end test (test_randomized_sync.py).

``Deployment`` is what a Dagster deployment runs for several forms, driven by hand on one
instance: change-sensor ticks (with the run requests' tags, judged by dagster.yaml's run queue),
sync runs of a day or a single-run range (also split at a step, so another job can run between
the run's clean and publish steps), a range run left in flight, the nightly re-sync and
reconciliation.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from dagster._utils.tags import TagConcurrencyLimitsCounter

from kd_assets.defs.reconciliation import CHECK
from kd_assets_tests.defs.random_forms import FormView
from kd_assets_tests.defs.sync_harness import resources

SOURCE_TZ = dt.timezone(dt.timedelta(hours=8))  # the simulator's server clock (Asia/Shanghai)
PROJECT = Path(__file__).resolve().parents[2]
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def project_run_queue_limits() -> list[dict]:
    """The tag concurrency limits of the project's dagster.yaml, as an instance reads them."""
    with tempfile.TemporaryDirectory() as home:
        shutil.copyfile(PROJECT / "dagster.yaml", Path(home) / "dagster.yaml")
        with dg.DagsterInstance.from_config(home) as instance:
            return list(instance.get_concurrency_config().run_queue_config.tag_concurrency_limits)


@dataclass
class RunRecord:
    form: str
    partition: str
    why: str
    success: bool
    failed_checks: list[str] = field(default_factory=list)


class Deployment:
    """Sensor ticks, sync runs, the nightly re-sync and reconciliation of ``views`` on one instance."""

    def __init__(self, sim, target_url: str, instance: dg.DagsterInstance, views: list[FormView]):
        self.instance, self.views = instance, views
        self.res = resources(sim, target_url)
        self.broken = resources(sim, target_url, app_secret="not-the-app-secret")
        self.runs: list[RunRecord] = []
        self.cursors: dict[str, str | None] = {}

    def definitions(self, res: dict) -> dg.Definitions:
        """The code location's sync and reconciliation definitions of every form, on these resources."""
        forms = [v.defs for v in self.views]
        return dg.Definitions(
            assets=[a for f in forms for a in (*f.sync_assets, f.reconciliation)],
            asset_checks=[c for f in forms for c in f.checks],
            jobs=[j for f in forms for j in (f.sync_job, f.reconcile_job)],
            sensors=[f.change_sensor for f in forms], schedules=[f.resync_schedule for f in forms],
            resources=res, executor=dg.in_process_executor)

    def tick(self, view: FormView) -> list[dg.RunRequest]:
        """One tick of the form's change sensor (with the cursor its last tick left, as the daemon
        passes it): its run requests, by partition."""
        with dg.build_sensor_context(instance=self.instance, resources=self.res, cursor=self.cursors.get(view.name),
                                     definitions=self.definitions(self.res)) as context:
            result = view.defs.change_sensor(context)
        self.cursors[view.name] = result.cursor
        return sorted(result.run_requests or [], key=lambda r: r.partition_key)

    def probe_cut(self, view: FormView) -> bool:
        """Did the form's last tick stop its probe at max_probe_rows (the next tick reads on)?"""
        return json.loads(self.cursors.get(view.name) or "{}").get("resume_after_key") is not None

    @staticmethod
    def queued_run(view: FormView, request: dg.RunRequest) -> dg.DagsterRun:
        """The run Dagster queues for a request: the job's tags, the request's, the partition's."""
        tags = {**view.defs.sync_job.tags, **request.tags, "dagster/partition": request.partition_key}
        return dg.DagsterRun(job_name=view.defs.sync_job.name, run_id=str(uuid.uuid4()), tags=tags)

    @staticmethod
    def blocked(limits: list[dict], run: dg.DagsterRun, in_flight: list[dg.DagsterRun]) -> bool:
        """Would the run queue hold ``run`` back while ``in_flight`` runs are going?"""
        return TagConcurrencyLimitsCounter(limits, in_flight).is_blocked(run)

    def run(self, view: FormView, partition: str, why: str, broken: bool = False, last: str | None = None,
            steps: list[dg.AssetsDefinition] | None = None) -> RunRecord:
        """One sync run of ``partition`` (or a single-run range ``partition``..``last``); ``steps``
        runs only those assets of the job (with their checks)."""
        res = self.broken if broken else self.res
        job = self.definitions(res).resolve_job_def(view.defs.sync_job.name)
        tags = {"kd/trigger": why}
        kwargs = dict(instance=self.instance, raise_on_error=False, tags=tags)
        if steps is not None:
            kwargs["asset_selection"] = [a.key for a in steps]
        if last is None:
            result = job.execute_in_process(partition_key=partition, **kwargs)
        else:
            tags.update(dict(zip(RANGE_TAGS, (partition, last))))
            result = job.execute_in_process(**kwargs)
        failed = [f"{e.asset_key.to_user_string()}.{e.check_name}" for e in result.get_asset_check_evaluations()
                  if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]
        record = RunRecord(view.name, partition if last is None else f"{partition}..{last}", why,
                           result.success, failed)
        self.runs.append(record)
        return record

    def start_range_run(self, view: FormView, first: str, last: str) -> dg.DagsterRun:
        """A single-run range run of the form's sync job as the instance sees it once launched and
        started (its steps run later, by :meth:`run`); remove it with :meth:`forget_run`."""
        tags = {**view.defs.sync_job.tags, **dict(zip(RANGE_TAGS, (first, last))), "kd/trigger": "backfill"}
        run = dg.DagsterRun(job_name=view.defs.sync_job.name, run_id=str(uuid.uuid4()), tags=tags,
                            status=dg.DagsterRunStatus.STARTED)
        self.instance.add_run(run)
        return run

    def forget_run(self, run: dg.DagsterRun) -> None:
        self.instance.delete_run(run.run_id)

    def resync_partition(self, view: FormView, source_now: dt.datetime) -> str:
        """The partition the form's nightly re-sync schedule asks for when it fires at ``source_now``."""
        context = dg.build_schedule_context(scheduled_execution_time=source_now.replace(tzinfo=SOURCE_TZ))
        return view.defs.resync_schedule(context).partition_key

    def reconcile(self, view: FormView, full_content: bool = False) -> tuple[bool, dict]:
        """One run of the form's reconcile job: (run succeeded, the check's metadata values plus
        passed/severity); ``full_content`` verifies every row's content, not only today's slice."""
        job = self.definitions(self.res).resolve_job_def(view.defs.reconcile_job.name)
        asset = view.defs.reconciliation.key.to_python_identifier()
        config = {"ops": {asset: {"config": {"full_content_verify": True}}}} if full_content else None
        result = job.execute_in_process(instance=self.instance, raise_on_error=False, run_config=config)
        evaluations = [e for e in result.get_asset_check_evaluations() if e.check_name == CHECK]
        if not evaluations:
            return result.success, {}
        e = evaluations[0]
        meta = {k: getattr(v, "value", v) for k, v in e.metadata.items()}
        return result.success, {**meta, "passed": e.passed, "severity": e.severity.value, "description": e.description}
