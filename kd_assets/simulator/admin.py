"""The admin API under /_sim/ (not Kingdee's protocol): state, clock and faults.

    GET  /_sim/state
    POST /_sim/clock   {"now": "YYYY-MM-DD HH:MM:SS"} | {"frozen": true, "now": ...}
                       | {"advance_seconds": n} | {"real": true}
    POST /_sim/faults  {"fail_rate", "throttle_rps", "latency_ms", "session_ttl", "retry_after",
                        "script": [{"kind": ..., ...}], "clear_script": true}
                       kinds: faults.KINDS, incl. the session-lost shapes of envelopes.SESSION_LOST_SHAPES
Bad admin requests get HTTP 400 with {"error": ...}; tests should fail loudly, not silently.
"""

from __future__ import annotations

import json
from typing import Any

from kd_assets.simulator.clock import parse_clock_text
from kd_assets.simulator.faults import Fault, FaultInjector, Reply

_FAULT_KEYS = set(FaultInjector.SETTINGS) | {"session_ttl", "script", "clear_script"}


class AdminError(ValueError):
    pass


def handle(app: Any, method: str, route: str, raw: bytes) -> Reply:
    """Answer one admin request with JSON."""
    routes = {("GET", "state"): lambda body: app.state(),
              ("POST", "clock"): lambda body: set_clock(app, body),
              ("POST", "faults"): lambda body: set_faults(app, body)}
    action = routes.get((method, route.strip("/")))
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


def _json(value: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(value, ensure_ascii=False), "application/json; charset=utf-8")
