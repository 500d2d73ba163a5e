"""HTTP front of the simulator: routing, body parsing, auth order, faults and envelopes.

Kingdee services live at POST /k3cloud/<ServiceFullName>.common.kdsvc; the admin API lives
under /_sim/ (admin.py). A bad request never crashes the server or hangs the connection: it
gets a Kingdee-style answer (an error envelope, or a `response_error:` text as real servers send
for unhandled exceptions).
"""

from __future__ import annotations

import json
import logging
import socket
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from kd_assets.kingdee import protocol as p
from kd_assets.simulator import admin
from kd_assets.simulator.app import SimulatorApp
from kd_assets.simulator.auth import LOGIN_PARAMETERS, LoginFailed, login_failure_response, login_response
from kd_assets.simulator.envelopes import (
    SESSION_LOST_SHAPES, KingdeeError, error_envelope, session_lost_answer, session_lost_error,
)
from kd_assets.simulator.faults import REPLACING, Fault, Reply, hold, mangle
from kd_assets.simulator.query import business_info

log = logging.getLogger(__name__)
SUBMIT = p.SAVE.rsplit(".", 1)[0] + ".Submit"
ALLOCATE = p.SAVE.rsplit(".", 1)[0] + ".Allocate"
CANCEL_ALLOCATE = p.SAVE.rsplit(".", 1)[0] + ".CancelAllocate"
_DISCARD_LIMIT = 64 * 1024 * 1024  # read and drop oversized bodies up to this, then hang up
_SERVICES = {name.lower(): name for name in (
    *LOGIN_PARAMETERS, p.LOGOUT, p.GET_DATA_CENTER_LIST, p.EXECUTE_BILL_QUERY, p.BILL_QUERY,
    p.QUERY_BUSINESS_INFO, p.SAVE, p.DELETE, p.AUDIT, p.UNAUDIT, p.EXCUTE_OPERATION, SUBMIT,
    ALLOCATE, CANCEL_ALLOCATE)}
# Positional `parameters` of business calls (Kingdee's own clients send the standard envelope).
_POSITIONAL = {p.SAVE: ("formid", "data"), p.DELETE: ("formid", "data"), p.AUDIT: ("formid", "data"),
               p.UNAUDIT: ("formid", "data"), SUBMIT: ("formid", "data"),
               ALLOCATE: ("formid", "data"), CANCEL_ALLOCATE: ("formid", "data"),
               p.EXCUTE_OPERATION: ("formid", "opnumber", "data")}


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def response_error(message: str) -> Reply:
    return Reply(200, f"{p.RESPONSE_ERROR_PREFIX} 发生时间：{time.strftime('%Y-%m-%d %H:%M:%S')}"
                      f" 错误信息：{message}")


def json_reply(value: Any, status: int = 200) -> Reply:
    return Reply(status, value if isinstance(value, str) else dumps(value),
                 "application/json; charset=utf-8")


class BadBody(ValueError):
    """A body that cannot be read as Kingdee's JSON or form encoding."""


def parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    """JSON object or form fields, with top-level keys lower-cased (Kingdee ignores case)."""
    text = raw.decode("utf-8-sig", errors="replace")
    if "x-www-form-urlencoded" in content_type.lower():
        body: Any = dict(parse_qsl(text, keep_blank_values=True))
    elif not text.strip():
        body = {}
    else:
        try:
            body = json.loads(text)
        except ValueError as err:
            raise BadBody(f"请求数据不是有效的 JSON：{err}") from None
    if isinstance(body, list):
        body = {"parameters": body}
    if not isinstance(body, dict):
        raise BadBody("请求数据必须是 JSON 对象")
    return {str(k).lower(): v for k, v in body.items()}


def decode_json_text(body: dict, key: str) -> None:
    """`data` / `parameters` may arrive as JSON text instead of an object (KM, N8N clients)."""
    value = body.get(key)
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            body[key] = json.loads(value)
        except ValueError as err:
            raise KingdeeError(0, f"参数 {key} 不是有效的 JSON：{err}", key) from None


def business_arguments(service: str, body: dict) -> dict:
    """formid / opnumber / data from named keys, or from positional `parameters`."""
    decode_json_text(body, "parameters")
    parameters = body.get("parameters")
    if "data" not in body and isinstance(parameters, list):
        names = _POSITIONAL.get(service, ("data",))
        body = {**body, **dict(zip(names, parameters))}
    decode_json_text(body, "data")
    data = body.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise KingdeeError(0, "参数 data 必须是 JSON 对象", "data")
    return {"formid": body.get("formid"), "opnumber": body.get("opnumber"),
            "data": {str(k).lower(): v for k, v in data.items()}}


class Handler(BaseHTTPRequestHandler):
    server: "SimulatorServer"
    protocol_version = "HTTP/1.1"  # keep-alive: paging clients reuse one connection
    timeout = 60  # an idle or stalled connection is closed, never held forever

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without NODELAY, Nagle plus the client's
        # delayed ACK stalls every keep-alive response by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("%s " + fmt, self.address_string(), *args)

    @property
    def app(self) -> SimulatorApp:
        return self.server.app

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path.startswith("/_sim/"):
            self.send(admin.handle(self.app, "GET", path[len("/_sim/"):], b""))
        else:
            self.send(Reply(404, "Not Found"))

    def do_POST(self) -> None:
        raw = self.read_body()
        if raw is None:
            return
        path = self.path.split("?", 1)[0]
        if path.startswith("/_sim/"):
            self.send(admin.handle(self.app, "POST", path[len("/_sim/"):], raw))
            return
        service = self.service_name(path)
        self.app.count(service or "unknown")
        if service is None:
            self.send(Reply(404, f"{p.RESPONSE_ERROR_PREFIX} 服务 {path} 不存在"))
            return
        try:
            reply = self.serve(service, raw)
        except Exception:  # an unhandled error is answered the way Kingdee does, not raised
            log.exception("simulator error in %s", service)
            reply = response_error(traceback.format_exc(limit=1).strip().splitlines()[-1])
        self.send(reply)

    def read_body(self) -> bytes | None:
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            self.send(Reply(400, "Bad Content-Length"), close=True)
            return None
        limit = self.app.config.max_body_bytes
        if length > limit:
            if length <= _DISCARD_LIMIT:
                self.discard(length)
            self.send(Reply(413, f"{p.RESPONSE_ERROR_PREFIX} 请求数据包过大：{length} 字节，"
                                 f"上限 {limit} 字节"), close=length > _DISCARD_LIMIT)
            return None
        return self.rfile.read(length)

    def discard(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 20))
            if not chunk:
                break
            length -= len(chunk)

    @staticmethod
    def service_name(path: str) -> str | None:
        """The canonical service name of /k3cloud/<Service>.common.kdsvc, case-insensitively."""
        lowered = path.lower()
        if not lowered.startswith("/k3cloud/") or not lowered.endswith(p.SERVICE_SUFFIX):
            return None
        return _SERVICES.get(lowered[len("/k3cloud/"):-len(p.SERVICE_SUFFIX)])

    def serve(self, service: str, raw: bytes) -> Reply:
        try:
            body = parse_body(raw, self.headers.get("Content-Type", ""))
        except BadBody as err:
            return response_error(str(err))
        if service in LOGIN_PARAMETERS:
            return self.login(service, body)
        if service == p.LOGOUT:
            self.app.auth.drop(self.cookies().get(p.SESSION_COOKIE, ""))
            return json_reply(True)
        if service == p.GET_DATA_CENTER_LIST:
            cfg = self.app.config
            return json_reply([{"Id": cfg.acct_id, "Number": cfg.acct_id,
                                "Name": "kd-assets 演示数据中心", "DatabaseType": 3,
                                "Version": "9.0.553.10"}])
        return self.business(service, body)

    def login(self, service: str, body: dict) -> Reply:
        try:
            session = self.app.auth.login(service, body)
        except LoginFailed as err:
            return json_reply(login_failure_response(err))
        reply = json_reply(login_response(session, self.app.config, self.app.clock.now()))
        reply.headers["Set-Cookie"] = [f"{p.SESSION_COOKIE}={session.sid}; path=/",
                                       f"{p.ASPNET_SESSION_COOKIE}={session.aspnet_id}; path=/; HttpOnly"]
        return reply

    def business(self, service: str, body: dict) -> Reply:
        """Faults, then auth, then the service; errors in the service's own envelope."""
        fault = self.app.faults.draw()
        if fault is not None and fault.kind in REPLACING:
            if fault.kind in SESSION_LOST_SHAPES:
                return json_reply(session_lost_answer(fault.kind, service == p.EXECUTE_BILL_QUERY, fault.params))
            return self.app.faults.replacement(fault)
        hold(fault, "delay")
        if self.app.faults.latency_ms > 0:
            time.sleep(self.app.faults.latency_ms / 1000.0)
        outcome = self.app.auth.authenticate(self.headers, self.cookies(), self.path)
        if outcome.unknown_acct:
            return Reply(500, p.UNKNOWN_ACCT_TEXT)
        if outcome.session is None:
            reply = self.envelope(service, session_lost_error())
        else:
            try:
                reply = json_reply(self.dispatch(service, body))
            except KingdeeError as err:
                reply = self.envelope(service, err)
        if outcome.set_cookies:
            reply.headers["Set-Cookie"] = [f"{k}={v}; path=/" for k, v in outcome.set_cookies.items()]
        return self.after(fault, reply)

    @staticmethod
    def after(fault: Fault | None, reply: Reply) -> Reply:
        if fault is not None:
            reply.body = mangle(fault, reply.body)
            hold(fault, "timeout")
        return reply

    def dispatch(self, service: str, body: dict) -> Any:
        args = business_arguments(service, body)
        app, data = self.app, args["data"]
        if service in (p.EXECUTE_BILL_QUERY, p.BILL_QUERY):
            return app.queries.execute(data, as_objects=service == p.BILL_QUERY)
        if service == p.QUERY_BUSINESS_INFO:
            return business_info(app.catalog, data)
        form_id = args["formid"] if args["formid"] is not None else data.get("formid")
        if service == p.SAVE:
            return app.writes.save(form_id, data)
        if service == p.DELETE:
            return app.writes.delete(form_id, data)
        if service == ALLOCATE:
            return app.allocations.allocate(form_id, data)
        if service == CANCEL_ALLOCATE:
            return app.allocations.cancel(form_id, data)
        if service == p.EXCUTE_OPERATION:
            return app.writes.operate(form_id, args["opnumber"], data)
        operation = {p.AUDIT: "audit", p.UNAUDIT: "unaudit", SUBMIT: "submit"}[service]
        return app.writes.operate(form_id, operation, data)

    @staticmethod
    def envelope(service: str, error: KingdeeError) -> Reply:
        envelope = error_envelope(error)
        # ExecuteBillQuery returns its errors inside a 2-D array, the others bare.
        return json_reply([[envelope]] if service == p.EXECUTE_BILL_QUERY else envelope)

    def cookies(self) -> dict[str, str]:
        """Cookies, leniently: the SDK sends 'Theme=standard;a=b; c=d' with stray spaces."""
        found = {}
        for part in ";".join(self.headers.get_all("Cookie") or []).split(";"):
            name, eq, value = part.strip().partition("=")
            if eq:
                found[name.strip()] = value.strip()
        return found

    def send(self, reply: Reply, close: bool = False) -> None:
        body = reply.body.encode("utf-8")
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in reply.headers.items():
            for item in value if isinstance(value, list) else [value]:
                self.send_header(name, item)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        try:
            self.end_headers()
            self.wfile.write(body)
        except ConnectionError:  # the client gave up (e.g. its timeout); nothing left to answer
            self.close_connection = True


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, app: SimulatorApp) -> None:
        self.app = app
        super().__init__((app.config.host, app.config.port), Handler)


def make_server(app: SimulatorApp) -> SimulatorServer:
    return SimulatorServer(app)
