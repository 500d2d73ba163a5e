"""The admin API under /_sim/ (not Kingdee's protocol): state, clock and faults.

    GET  /_sim/state
    POST /_sim/clock   {"now": "YYYY-MM-DD HH:MM:SS"} | {"frozen": true, "now": ...}
                       | {"advance_seconds": n} | {"real": true}
    POST /_sim/faults  {"fail_rate", "throttle_rps", "latency_ms", "session_ttl", "retry_after",
                        "script": [{"kind": ..., ...}], "clear_script": true}
                       kinds: faults.KINDS, incl. the session-lost shapes of envelopes.SESSION_LOST_SHAPES
    POST /_sim/permissions {"visible_orgs": ["101", 100330] | "101,102" | null}
                       data permissions of the integration user (optional "user" must name it):
                       use-orgs (FNumber or id) whose rows it may see; null = all. Queries and
                       keyed operations then leave other use-orgs' rows out without an error.
    POST /_sim/forms/<FORM_ID>/silent_update  {"ids": [...], "values": {"FName": ...}}
                       changes stored fields like a DBA's `UPDATE ... WHERE FCUSTID IN (...)`:
                       no date or user field is stamped, so incremental syncs cannot see it.
    POST /_sim/forms/<FORM_ID>/writeback  {"ids": [bill id, ...], "share": 0.5}
                       sets the write-back quantity of every line of those bills (e.g. delivered
                       FStockOutQty) to `share` of its ordered quantity, as later documents do on
                       a real server: FModifyDate does not move.
Bad admin requests get HTTP 400 with {"error": ...}; tests should fail loudly, not silently.
"""

from __future__ import annotations

import json
from typing import Any

from kd_assets.simulator.billwrites import writeback
from kd_assets.simulator.clock import parse_clock_text
from kd_assets.simulator.envelopes import KingdeeError
from kd_assets.simulator.faults import Fault, FaultInjector, Reply
from kd_assets.simulator.fields import UnknownField
from kd_assets.simulator.permissions import UnknownOrg, parse_org_list
from kd_assets.simulator.values import convert

_FAULT_KEYS = set(FaultInjector.SETTINGS) | {"session_ttl", "script", "clear_script"}


class AdminError(ValueError):
    pass


def handle(app: Any, method: str, route: str, raw: bytes) -> Reply:
    """Answer one admin request with JSON."""
    routes = {("GET", "state"): lambda body: app.state(),
              ("POST", "clock"): lambda body: set_clock(app, body),
              ("POST", "faults"): lambda body: set_faults(app, body),
              ("POST", "permissions"): lambda body: set_permissions(app, body)}
    route = route.strip("/")
    action = routes.get((method, route))
    parts = route.split("/")
    form_routes = {"silent_update": silent_update, "writeback": write_back}
    if action is None and method == "POST" and len(parts) == 3 and parts[0] == "forms" \
            and parts[2] in form_routes:
        action = lambda body: form_routes[parts[2]](app, parts[1], body)  # noqa: E731
    if action is None:
        return _json({"error": f"no admin route {method} /_sim/{route}"}, 404)
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        if not isinstance(body, dict):
            raise AdminError("body must be a JSON object")
        return _json(action(body))
    except (AdminError, ValueError, TypeError) as err:
        return _json({"error": str(err)}, 400)


def set_clock(app: Any, body: dict) -> dict:
    clock = app.clock
    if body.get("real"):
        clock.follow_real_time()
    elif "now" in body:
        clock.set(parse_clock_text(body["now"]), frozen=bool(body.get("frozen")))
    elif "advance_seconds" in body:
        clock.advance(float(body["advance_seconds"]))
    elif body.get("frozen"):
        clock.set(clock.now(), frozen=True)
    else:
        raise AdminError('expected "now", "advance_seconds", "frozen" or "real"')
    return {"now": clock.now().isoformat(" ", "seconds"), "frozen": clock.frozen}


def set_faults(app: Any, body: dict) -> dict:
    unknown = set(body) - _FAULT_KEYS
    if unknown:
        raise AdminError(f"unknown fault settings {sorted(unknown)}; known: {sorted(_FAULT_KEYS)}")
    script = [Fault.from_json(item) for item in body.get("script") or []]
    if body.get("clear_script"):
        app.faults.script.clear()
    app.faults.update(body)
    if "session_ttl" in body:
        app.auth.session_ttl = float(body["session_ttl"])
    app.faults.enqueue(script)
    state = app.faults.state()
    state["session_ttl"] = app.auth.session_ttl
    return state


def set_permissions(app: Any, body: dict) -> dict:
    """Change which use-orgs the integration user may see (see the module docstring)."""
    unknown = set(body) - {"user", "visible_orgs"}
    if unknown or "visible_orgs" not in body:
        raise AdminError('expected {"visible_orgs": ["100", "101"] | "100,101" | null, "user": optional}')
    user = body.get("user", app.config.username)
    if user != app.config.username:
        raise AdminError(f"user {user!r}: the simulator serves one integration user, {app.config.username!r}")
    try:
        app.permissions.set_visible(parse_org_list(body["visible_orgs"]))
    except UnknownOrg as err:
        raise AdminError(str(err)) from None
    return {"user": app.config.username, "visible_orgs": app.permissions.state()}


def _form(app: Any, form_id: str) -> Any:
    form = app.catalog.get(form_id)
    if form is None:
        raise AdminError(f"no served form {form_id!r}")
    return form


def _ids(form: Any, ids: Any) -> list[int]:
    if not isinstance(ids, list) or not ids or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise AdminError(f"ids must be a non-empty list of integer {form.key} values")
    return ids


def write_back(app: Any, form_id: str, body: dict) -> dict:
    """Write back a share of each line's ordered quantity, stamping nothing (module docstring)."""
    form = _form(app, form_id)
    if not any(e.writeback for e in form.entities):
        raise AdminError(f"{form.form_id} has no entity with a `writeback:` field")
    unknown = set(body) - {"ids", "share"}
    share = body.get("share", 1.0)
    if unknown or isinstance(share, bool) or not isinstance(share, (int, float)):
        raise AdminError('expected {"ids": [bill id, ...], "share": number}')
    with app.store.transaction() as conn:
        lines = writeback(conn, form, _ids(form, body.get("ids")), float(share))
    return {"form": form.form_id, "lines": lines}


def silent_update(app: Any, form_id: str, body: dict) -> dict:
    """Set stored fields of rows by key, stamping nothing (see the module docstring)."""
    form = _form(app, form_id)
    unknown = set(body) - {"ids", "values"}
    ids, values = body.get("ids"), body.get("values")
    if unknown or not isinstance(ids, list) or not ids or not isinstance(values, dict) or not values:
        raise AdminError('expected {"ids": [key, ...], "values": {"FField": value, ...}}')
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise AdminError(f"ids must be integer {form.key} values")
    with app.store.transaction() as conn:
        try:
            fields = {key: form.lookup(str(key)) for key in values}
            if any(f.key == form.key for f in fields.values()):
                raise AdminError(f"{form.key} is the key; it cannot be updated")
            if any(f.entity for f in fields.values()):
                raise AdminError(f"{form.form_id}: only header fields; lines change by writeback")
            columns = {f.key: convert(conn, f, values[key]) for key, f in fields.items()}
        except UnknownField as err:
            raise AdminError(f"{form.form_id}: {err.path}: no such field") from None
        except KingdeeError as err:
            raise AdminError(f"{form.form_id}: {err.field_name}: {err.message}") from None
        assignments = ", ".join(f"{column} = ?" for column in columns)
        marks = ", ".join("?" * len(ids))
        updated = conn.execute(f"UPDATE {form.table} SET {assignments} WHERE {form.key} IN ({marks})",
                               [*columns.values(), *ids]).rowcount
    return {"form": form.form_id, "updated": updated, "fields": sorted(columns)}


def _json(value: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(value, ensure_ascii=False), "application/json; charset=utf-8")
