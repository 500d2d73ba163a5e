"""A small client for the Dagster webserver's GraphQL API: the operations the UI itself sends.

Every query below was checked against the schema of dagster-graphql 1.13 (print
``dagster_graphql.schema.create_schema()``); an error in the response raises instead of
being read as "no data".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests

T = TypeVar("T")

# Statuses after which a run or backfill changes no more.
FINISHED_RUN_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}
FINISHED_BACKFILL_STATUSES = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

SERVER_INFO = "/server_info"

WORKSPACE = """
query Workspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { repositories { name } }
          ... on PythonError { message stack }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""

DAEMON_HEALTH = """
query DaemonHealth {
  instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } }
}
"""

LAUNCH_PARTITION_BACKFILL = """
mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PartitionKeysNotFoundError { message partitionKeys }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}
"""

BACKFILL_STATUS = """
query BackfillStatus($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    __typename
    ... on PartitionBackfill {
      id
      status
      numPartitions
      partitionNames
      error { message stack }
      runs { runId status tags { key value } }
    }
    ... on BackfillNotFoundError { message }
    ... on PythonError { message stack }
  }
}
"""

METADATA_FIELDS = """
metadataEntries {
  __typename
  label
  ... on IntMetadataEntry { intValue intRepr }
  ... on FloatMetadataEntry { floatValue }
  ... on TextMetadataEntry { text }
  ... on BoolMetadataEntry { boolValue }
}
"""

ASSET_MATERIALIZATIONS = """
query AssetMaterializations($assetKey: AssetKeyInput!, $partitions: [String!], $limit: Int) {
  assetOrError(assetKey: $assetKey) {
    __typename
    ... on Asset {
      assetMaterializations(partitions: $partitions, limit: $limit) {
        runId
        partition
        timestamp
        %s
      }
    }
    ... on AssetNotFoundError { message }
  }
}
""" % METADATA_FIELDS

ASSET_CHECK_EXECUTIONS = """
query AssetCheckExecutions($assetKey: AssetKeyInput!, $checkName: String!, $partition: String, $limit: Int!) {
  assetCheckExecutions(assetKey: $assetKey, checkName: $checkName, partition: $partition, limit: $limit) {
    runId
    status
    partition
    evaluation {
      checkName
      success
      severity
      partition
      %s
    }
  }
}
""" % METADATA_FIELDS

ASSET_GRAPH = """
query AssetGraph {
  assetNodes { assetKey { path } groupName dependencyKeys { path } }
}
"""

# What the UI's "Join the Dagster community" dialog sends on Skip; until then the dialog covers
# every page of a fresh instance.
SET_NUX_SEEN = """
mutation SetNuxSeen { setNuxSeen }
"""

RUNS = """
query Runs($filter: RunsFilter, $limit: Int) {
  runsOrError(filter: $filter, limit: $limit) {
    __typename
    ... on Runs {
      results { runId status jobName creationTime tags { key value } }
    }
    ... on InvalidPipelineRunsFilterError { message }
    ... on PythonError { message stack }
  }
}
"""

SENSOR_STATE = """
query SensorState($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor {
      name
      minIntervalSeconds
      sensorState { status ticks(limit: 5) { status timestamp error { message } } }
    }
    ... on SensorNotFoundError { message }
    ... on PythonError { message }
  }
}
"""


REPOSITORY_SCHEDULES = """
query RepositorySchedules($selector: RepositorySelector!) {
  repositoryOrError(repositorySelector: $selector) {
    __typename
    ... on Repository { schedules { name scheduleState { id selectorId status } } }
    ... on RepositoryNotFoundError { message }
    ... on PythonError { message }
  }
}
"""

# The UI's schedule toggle, switching a schedule off.
STOP_SCHEDULE = """
mutation StopSchedule($originId: String!, $selectorId: String!) {
  stopRunningSchedule(scheduleOriginId: $originId, scheduleSelectorId: $selectorId) {
    __typename
    ... on ScheduleStateResult { scheduleState { name status } }
    ... on PythonError { message }
    ... on Error { message }
  }
}
"""

DEFAULT_REPOSITORY = "__repository__"
DEFAULT_LOCATION = "kd_assets.definitions"


class GraphQLError(AssertionError):
    """The webserver answered with errors, or with an error type where data was expected."""


def asset_key(name: str) -> dict:
    return {"path": name.split("/")}


def metadata(entries: list[dict]) -> dict[str, Any]:
    """Metadata entries as {label: value} (ints, floats, text, booleans)."""
    out: dict[str, Any] = {}
    for entry in entries:
        for field in ("intValue", "floatValue", "text", "boolValue"):
            if field in entry:
                out[entry["label"]] = entry[field]
                break
    return out


def wait_until(condition: Callable[[], T], *, timeout_s: float, what: str, interval_s: float = 0.5,
               describe: Callable[[], str] = lambda: "") -> T:
    """Poll ``condition`` until it returns something truthy, or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = describe()
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}"
                                 + (f": {detail}" if detail else ""))
        time.sleep(interval_s)  # poll interval of a wait loop, not synchronisation


class DagsterGraphQL:
    """POSTs queries to ``<base_url>/graphql`` as the UI does."""

    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    def execute(self, query: str, variables: dict | None = None) -> dict:
        response = self.session.post(f"{self.base_url}/graphql", json={"query": query, "variables": variables or {}},
                                     timeout=self.timeout_s)
        if response.status_code != 200:
            raise GraphQLError(f"HTTP {response.status_code} from /graphql: {response.text[:2000]}")
        body = response.json()
        if body.get("errors"):
            raise GraphQLError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    # --- readiness -------------------------------------------------------------------------

    def server_info(self) -> dict | None:
        """The webserver's version info, or None while it is not answering yet."""
        try:
            response = self.session.get(f"{self.base_url}{SERVER_INFO}", timeout=5)
        except (requests.ConnectionError, requests.Timeout):
            return None
        return response.json() if response.status_code == 200 else None

    def loaded_repositories(self) -> list[str]:
        """Repositories of loaded code locations; a location that failed to load raises."""
        workspace = self.execute(WORKSPACE)["workspaceOrError"]
        if workspace["__typename"] != "Workspace":
            raise GraphQLError(f"workspace: {workspace}")
        names = []
        for entry in workspace["locationEntries"]:
            location = entry["locationOrLoadError"]
            if location is None:  # still loading
                continue
            if location["__typename"] == "PythonError":
                raise GraphQLError(f"code location {entry['name']} failed to load: {location['message']}"
                                   f"{''.join(location['stack'])}")
            names += [repo["name"] for repo in location["repositories"]]
        return names

    def daemon_statuses(self) -> dict[str, bool]:
        statuses = self.execute(DAEMON_HEALTH)["instance"]["daemonHealth"]["allDaemonStatuses"]
        return {s["daemonType"]: s["healthy"] for s in statuses if s["required"]}

    def dismiss_community_dialog(self) -> None:
        if not self.execute(SET_NUX_SEEN)["setNuxSeen"]:
            raise GraphQLError("setNuxSeen did not stick")

    # --- backfills -------------------------------------------------------------------------

    def launch_partition_backfill(self, assets: list[str], partition_names: list[str], *,
                                  title: str | None = None) -> str:
        """An asset backfill of ``assets`` over ``partition_names`` (the UI's "Materialize" dialog)."""
        params: dict[str, Any] = {"assetSelection": [asset_key(a) for a in assets], "partitionNames": partition_names}
        if title:
            params["title"] = title
        result = self.execute(LAUNCH_PARTITION_BACKFILL, {"backfillParams": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise GraphQLError(f"launchPartitionBackfill: {result}")
        return result["backfillId"]

    def backfill(self, backfill_id: str) -> dict:
        result = self.execute(BACKFILL_STATUS, {"backfillId": backfill_id})["partitionBackfillOrError"]
        if result["__typename"] != "PartitionBackfill":
            raise GraphQLError(f"partitionBackfillOrError: {result}")
        return result

    def wait_for_backfill(self, backfill_id: str, timeout_s: float) -> dict:
        """The backfill once it finished (any final status)."""
        last: dict = {}

        def finished() -> dict | None:
            nonlocal last
            last = self.backfill(backfill_id)
            return last if last["status"] in FINISHED_BACKFILL_STATUSES else None

        return wait_until(finished, timeout_s=timeout_s, what=f"backfill {backfill_id}",
                          describe=lambda: f"status {last.get('status')}, runs {last.get('runs')}")

    # --- assets and checks -----------------------------------------------------------------

    def materializations(self, asset: str, partitions: list[str] | None = None, limit: int = 100) -> list[dict]:
        """Materialization events of ``asset`` (newest first), metadata as a dict under ``metadata``."""
        result = self.execute(ASSET_MATERIALIZATIONS, {"assetKey": asset_key(asset), "partitions": partitions,
                                                       "limit": limit})["assetOrError"]
        if result["__typename"] != "Asset":
            raise GraphQLError(f"assetOrError({asset}): {result}")
        return [{**event, "metadata": metadata(event["metadataEntries"])}
                for event in result["assetMaterializations"]]

    def check_executions(self, asset: str, check: str, partition: str | None = None, limit: int = 50) -> list[dict]:
        """Executions of one asset check (newest first); ``evaluation.metadata`` as a dict."""
        executions = self.execute(ASSET_CHECK_EXECUTIONS, {"assetKey": asset_key(asset), "checkName": check,
                                                           "partition": partition, "limit": limit})
        out = []
        for execution in executions["assetCheckExecutions"]:
            evaluation = execution["evaluation"]
            if evaluation is not None:
                evaluation = {**evaluation, "metadata": metadata(evaluation["metadataEntries"])}
            out.append({**execution, "evaluation": evaluation})
        return out

    def asset_graph(self) -> dict[str, dict]:
        """Asset nodes by key: group and upstream keys."""
        nodes = self.execute(ASSET_GRAPH)["assetNodes"]
        return {"/".join(n["assetKey"]["path"]): {"group": n["groupName"],
                                                  "deps": sorted("/".join(d["path"]) for d in n["dependencyKeys"])}
                for n in nodes}

    # --- runs and sensors ------------------------------------------------------------------

    def runs(self, *, tags: dict[str, str] | None = None, run_ids: list[str] | None = None,
             limit: int = 50) -> list[dict]:
        """Runs (newest first) with ``tags`` as a dict."""
        run_filter: dict[str, Any] = {}
        if tags:
            run_filter["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        if run_ids:
            run_filter["runIds"] = run_ids
        result = self.execute(RUNS, {"filter": run_filter, "limit": limit})["runsOrError"]
        if result["__typename"] != "Runs":
            raise GraphQLError(f"runsOrError: {result}")
        return [{**run, "tags": {t["key"]: t["value"] for t in run["tags"]}} for run in result["results"]]

    def stop_schedules(self, repository: str = DEFAULT_REPOSITORY, location: str = DEFAULT_LOCATION) -> list[str]:
        """Switch every running schedule of the repository off; return their names."""
        selector = {"repositoryName": repository, "repositoryLocationName": location}
        repo = self.execute(REPOSITORY_SCHEDULES, {"selector": selector})["repositoryOrError"]
        if repo["__typename"] != "Repository":
            raise GraphQLError(f"repositoryOrError: {repo}")
        stopped = []
        for schedule in repo["schedules"]:
            state = schedule["scheduleState"]
            if state["status"] != "RUNNING":
                continue
            result = self.execute(STOP_SCHEDULE, {"originId": state["id"], "selectorId": state["selectorId"]})
            result = result["stopRunningSchedule"]
            if result["__typename"] != "ScheduleStateResult" or result["scheduleState"]["status"] != "STOPPED":
                raise GraphQLError(f"stopRunningSchedule({schedule['name']}): {result}")
            stopped.append(schedule["name"])
        return stopped

    def sensor(self, name: str, repository: str = DEFAULT_REPOSITORY, location: str = DEFAULT_LOCATION) -> dict:
        selector = {"repositoryLocationName": location, "repositoryName": repository, "sensorName": name}
        result = self.execute(SENSOR_STATE, {"selector": selector})["sensorOrError"]
        if result["__typename"] != "Sensor":
            raise GraphQLError(f"sensorOrError({name}): {result}")
        return result
