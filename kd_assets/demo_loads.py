"""What `make demo` asks the Dagster webserver to do, through the GraphQL API the UI uses:
each form's initial load (one single-run backfill over all partitions) and, once that load has
finished, one run of the form's reconciliation (which alone brings rows stamped before the first
partition, and deletes), so a new user sees every asset materialized within minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

LAUNCH_BACKFILL = """
mutation InitialLoad($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}"""
BACKFILLS = "{ partitionBackfillsOrError { ... on PartitionBackfills { results { id title status endTimestamp } } } }"
RUNS_OF_JOB = """
query RunsOfJob($filter: RunsFilter!) {
  runsOrError(filter: $filter, limit: 1) { ... on Runs { results { runId status } } }
}"""
REPOSITORIES = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"
LAUNCH_RUN = """
mutation Reconcile($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on Error { message }
  }
}"""
FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


class DemoGraphQLError(RuntimeError):
    """The webserver answered, but not with what the demo asked for."""


@dataclass(frozen=True)
class DemoForm:
    """One form as the demo drives it: its sync assets and its reconciliation job."""

    name: str
    sync_assets: tuple[str, ...]
    reconcile_job: str

    @property
    def load_title(self) -> str:
        return f"Initial load: {self.name} (make demo)"


def demo_forms() -> list[DemoForm]:
    """Every form the code location loads (kd_assets/forms and KD_FORMS_DIRS)."""
    from kd_assets.definitions import form_trees, forms_dirs, forms_in

    return [DemoForm(f.name, (f.names.raw, f.names.clean, f.names.target), f.names.reconcile_job)
            for f in forms_in(form_trees(forms_dirs()))]


class DemoLoads:
    """Starts each form's initial load once and its reconciliation once after it; idempotent, so
    a restarted demo (same DAGSTER_HOME) neither reloads nor re-reconciles."""

    def __init__(self, ui_url: str, forms: list[DemoForm]):
        self.graphql = ui_url.rstrip("/") + "/graphql"
        self.forms = forms
        self.reconciled: set[str] = set()

    def _post(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = requests.post(self.graphql, json={"query": query, "variables": variables or {}}, timeout=60).json()
        if answer.get("errors") or not answer.get("data"):
            raise DemoGraphQLError(str(answer.get("errors") or answer)[:500])
        return answer["data"]

    def _backfills(self) -> dict[str, dict]:
        results = self._post(BACKFILLS)["partitionBackfillsOrError"].get("results") or []
        return {b["title"]: b for b in results if b.get("title")}

    def start_initial_loads(self) -> list[str]:
        """Launch the initial load of every form that has none yet; returns what happened."""
        # The UI's "join the community" dialog would cover the first page a newcomer sees.
        self._post("mutation { setNuxSeen }")
        existing, said = self._backfills(), []
        for form in self.forms:
            if form.load_title in existing:
                said.append(f"{form.name}: initial load exists (backfill {existing[form.load_title]['id']})")
                continue
            params = {"assetSelection": [{"path": [a]} for a in form.sync_assets], "allPartitions": True,
                      "title": form.load_title}
            answer = self._post(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
            if answer["__typename"] != "LaunchBackfillSuccess":
                raise DemoGraphQLError(f"{form.name}: {answer.get('message', answer['__typename'])}")
            said.append(f"{form.name}: initial load started (backfill {answer['backfillId']})")
        return said

    def reconcile_finished_loads(self) -> list[str]:
        """Launch the reconciliation of each form whose initial load finished and that was never
        reconciled; returns what was launched."""
        pending = [f for f in self.forms if f.name not in self.reconciled]
        if not pending:
            return []
        backfills, said = self._backfills(), []
        for form in pending:
            load = backfills.get(form.load_title)
            if load is None or load["status"] not in FINISHED:
                continue
            done = f"{form.name}: initial load {load['status'].lower()}; reconciliation"
            run = self._run_since(form.reconcile_job, load.get("endTimestamp") or 0)
            if run is None:
                said.append(f"{done} started (run {self._launch(form.reconcile_job)})")
            else:
                said.append(f"{done} {run['status'].lower()} (run {run['runId']}, its schedule)")
            self.reconciled.add(form.name)
        return said

    def _run_since(self, job: str, since: float) -> dict | None:
        """The newest run of ``job`` created after ``since`` (a restarted demo, or the schedule)."""
        runs = self._post(RUNS_OF_JOB, {"filter": {"pipelineName": job, "createdAfter": since}})["runsOrError"]
        return next(iter(runs.get("results") or []), None)

    def _launch(self, job: str) -> str:
        repo = self._post(REPOSITORIES)["repositoriesOrError"]["nodes"][0]
        params = {"selector": {"repositoryLocationName": repo["location"]["name"],
                               "repositoryName": repo["name"], "jobName": job}}
        answer = self._post(LAUNCH_RUN, {"params": params})["launchRun"]
        if answer["__typename"] != "LaunchRunSuccess":
            raise DemoGraphQLError(f"{job}: {answer.get('message', answer['__typename'])}")
        return answer["run"]["runId"]
