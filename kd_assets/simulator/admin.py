"""The admin API under /_sim/ (not Kingdee's protocol): state, clock and faults.

    GET  /_sim/state
    POST /_sim/clock   {"now": "YYYY-MM-DD HH:MM:SS"} | {"frozen": true, "now": ...}
                       | {"advance_seconds": n} | {"real": true}
    POST /_sim/faults  {"fail_rate", "throttle_rps", "latency_ms", "session_ttl", "retry_after",
                        "script": [{"kind": ..., ...}], "clear_script": true}
                       kinds: faults.KINDS, incl. the session-lost shapes of envelopes.SESSION_LOST_SHAPES
    POST /_sim/forms/<FORM_ID>/silent_update  {"ids": [...], "values": {"FName": ...}}
                       changes stored fields like a DBA's `UPDATE ... WHERE FCUSTID IN (...)`:
                       no date or user field is stamped, so incremental syncs cannot see it.
Bad admin requests get HTTP 400 with {"error": ...}; tests should fail loudly, not silently.
"""

from __future__ import annotations

import json
from typing import Any

from kd_assets.simulator.clock import parse_clock_text
from kd_assets.simulator.envelopes import KingdeeError
from kd_assets.simulator.faults import Fault, FaultInjector, Reply
from kd_assets.simulator.fields import UnknownField
from kd_assets.simulator.values import convert

_FAULT_KEYS = set(FaultInjector.SETTINGS) | {"session_ttl", "script", "clear_script"}


class AdminError(ValueError):
    pass


def handle(app: Any, method: str, route: str, raw: bytes) -> Reply:
    """Answer one admin request with JSON."""
    routes = {("GET", "state"): lambda body: app.state(),
              ("POST", "clock"): lambda body: set_clock(app, body),
              ("POST", "faults"): lambda body: set_faults(app, body)}
    route = route.strip("/")
    action = routes.get((method, route))
    parts = route.split("/")
    if action is None and method == "POST" and len(parts) == 3 and parts[::2] == ["forms", "silent_update"]:
        action = lambda body: silent_update(app, parts[1], body)  # noqa: E731
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


def silent_update(app: Any, form_id: str, body: dict) -> dict:
    """Set stored fields of rows by key, stamping nothing (see the module docstring)."""
    form = app.catalog.get(form_id)
    if form is None:
        raise AdminError(f"no served form {form_id!r}")
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
