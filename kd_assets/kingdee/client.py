"""K3CloudClient: one HTTP session to Kingdee, with auth, retries, rate limit, logging and stats.

Every request goes through :meth:`K3CloudClient._call`, which
1. waits for the client-side rate limit,
2. authenticates (signed headers, or the session of a login call),
3. retries transient failures under the :class:`~.retry.RetryPolicy`,
4. on MsgCode 1 (session lost) logs in again once and replays,
5. logs the call once (INFO on success, ERROR on failure) and counts it in :class:`ClientStats`.

Writes and replays: Kingdee checks the session before it runs an operation, so a MsgCode 1
answer means nothing happened and a write is replayed after re-login like a query. Other
transient failures of a write (timeouts, 5xx, cut connections) may have been applied, so a write
is retried only when the request provably never reached the server (connect failure, HTTP 429);
otherwise the error goes to the caller, who can check the source before trying again.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from . import paging, protocol
from .auth import authenticator_for, settings_to_check
from .config import ClientConfig
from .errors import AuthError, KingdeeError, OperationError, SessionLostError, ThrottledError, TransientError
from .filters import Window, field_key
from .redaction import Redactor
from .responses import (
    QueryPage, check_status, decode_json, login_session, object_rows, query_rows, raise_for_status_envelope,
)
from .retry import RateLimiter, Retrier
from .stats import ClientStats

logger = logging.getLogger("kd_assets.kingdee")

_USER_AGENT = "kd-assets K3CloudClient (requests)"
Parse = Callable[[Any, bytes], tuple[Any, int]]  # (payload, the body it was decoded from) -> (result, row count)


def _short(service: str) -> str:
    return service.rsplit(".", 1)[-1]


def _never_sent(error: requests.RequestException) -> bool:
    """True when the connection failed before the request could reach the server."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return type(reason).__name__ == "NewConnectionError"


class K3CloudClient:
    """Talks to one K3Cloud data center as one user. Thread-safe enough for sequential use per
    thread; create one client per worker for parallel fetching."""

    def __init__(self, config: ClientConfig, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self.stats = ClientStats()
        self._redact = Redactor(config.secrets)
        self._auth = authenticator_for(config, wall_clock)
        self._retrier = Retrier(config.retry, sleep, rng)
        self._limiter = RateLimiter(config.max_rps, sleep, clock)
        self._session_id = ""
        self._row_cap = 0  # the server's row cap when observed below the configured one
        self._http = requests.Session()
        self._http.verify = config.verify_tls
        # No urllib3-level retries: every retry decision is ours, counted and logged.
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=8, max_retries=0)
        self._http.mount("http://", adapter)
        self._http.mount("https://", adapter)

    def __repr__(self) -> str:
        return f"K3CloudClient({self.config.base_url!r}, acct_id={self.config.acct_id!r}, user={self.config.username!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> K3CloudClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- queries -------------------------------------------------------------------------------

    def execute_bill_query(self, form_id: str, field_keys: Sequence[str] | str, filter_string: str = "",
                           order_string: str = "", start_row: int = 0, limit: int = 0, top_row_count: int = 0,
                           sub_system_id: str = "", *, page_key: object = None) -> list[list]:
        """Rows as lists in ``field_keys`` order (PROTOCOL.md §3), as a :class:`.responses.QueryPage`
        that keeps the response body they are; ``page_key`` is only logged."""
        keys = self._field_keys(field_keys)
        body = self._query_body(form_id, keys, filter_string, order_string, start_row, limit, top_row_count,
                                sub_system_id)

        def parse(payload: Any, content: bytes) -> tuple[list[list], int]:
            rows = query_rows(payload, len(keys), service=protocol.EXECUTE_BILL_QUERY, form_id=form_id,
                              redact=self._redact)
            return QueryPage(rows, content, keys), len(rows)

        return self._call(protocol.EXECUTE_BILL_QUERY, body, parse, form_id=form_id,
                          filter_string=filter_string, page_key=page_key)

    def bill_query(self, form_id: str, field_keys: Sequence[str] | str, filter_string: str = "",
                   order_string: str = "", start_row: int = 0, limit: int = 0, top_row_count: int = 0,
                   sub_system_id: str = "") -> list[dict]:
        """Like :meth:`execute_bill_query`, rows as dicts keyed by field key (BillQuery service)."""
        keys = self._field_keys(field_keys)
        body = self._query_body(form_id, keys, filter_string, order_string, start_row, limit, top_row_count,
                                sub_system_id)

        def parse(payload: Any, _content: bytes) -> tuple[list[dict], int]:
            rows = object_rows(payload, keys, service=protocol.BILL_QUERY, form_id=form_id, redact=self._redact)
            return rows, len(rows)

        return self._call(protocol.BILL_QUERY, body, parse, form_id=form_id, filter_string=filter_string)

    def page_size_for(self, requested: int | None = None) -> int:
        """Rows to ask per page: the requested or configured size, never above the server cap
        configured (``server_max_limit``) or observed (:meth:`learn_row_cap`)."""
        size = min(requested or self.config.effective_page_size, self.config.server_max_limit)
        return min(size, self._row_cap) if self._row_cap else size

    def learn_row_cap(self, form_id: str, *, asked: int, returned: int) -> int:
        """The server returned ``returned`` rows where ``asked`` were asked and more followed: its
        row cap is lower than configured. Page by it from now on (warned once); returns it."""
        if not self._row_cap or returned < self._row_cap:
            self._row_cap = returned
            self.stats.set("server_row_cap_observed", returned)
            logger.warning("kingdee ExecuteBillQuery on %s: the server returns at most %d rows per call, below the "
                           "configured page size %d (page_size %d, server_max_limit %d): its WebAPIMaxQueryLimit is "
                           "lower; paging by %d rows from now on", form_id, returned, asked, self.config.page_size,
                           self.config.server_max_limit, returned)
        return self._row_cap

    # The form's key and change fields come from its sync spec: no form's names are defaults here.

    def iter_window(self, form_id: str, field_keys: Sequence[str], window: Window, *, key_field: paging.PageKey,
                    change_fields: Sequence[str], extra_filter: str = "",
                    page_size: int | None = None) -> Iterator[list[list]]:
        """Pages of rows changed in ``[window.start, window.end)``; see :func:`.paging.iter_window`."""
        return paging.iter_window(self, form_id, field_keys, window, key_field=key_field,
                                  change_fields=change_fields, extra_filter=extra_filter, page_size=page_size)

    def iter_keys(self, form_id: str, *, key_field: paging.PageKey, extra_fields: Sequence[str] = (),
                  extra_filter: str = "", page_size: int | None = None) -> Iterator[list[list]]:
        """Pages of ``[key, *extra_fields]`` over the whole form, for reconciliation."""
        return paging.iter_keys(self, form_id, key_field=key_field, extra_fields=extra_fields,
                                extra_filter=extra_filter, page_size=page_size)

    def fetch_by_keys(self, form_id: str, field_keys: Sequence[str], keys: Iterable[object], *,
                      key_field: paging.PageKey) -> Iterator[list[list]]:
        """Pages of the rows with the given keys, asked for in chunks of ``in (...)``."""
        return paging.fetch_by_keys(self, form_id, field_keys, keys, key_field=key_field)

    # -- writes (tests and the demo) -----------------------------------------------------------

    def save(self, form_id: str, model: dict, **options: Any) -> dict:
        """Create (``FCUSTID`` 0 or absent) or update a record; returns Kingdee's Result object."""
        return self._operate(protocol.SAVE, {"formid": form_id, "data": {"Model": model, **options}}, form_id)

    def delete(self, form_id: str, ids: Iterable[object]) -> dict:
        return self._operate(protocol.DELETE, {"formid": form_id, "data": {"Ids": self._ids(ids)}}, form_id)

    def audit(self, form_id: str, ids: Iterable[object]) -> dict:
        return self._operate(protocol.AUDIT, {"formid": form_id, "data": {"Ids": self._ids(ids)}}, form_id)

    def unaudit(self, form_id: str, ids: Iterable[object]) -> dict:
        return self._operate(protocol.UNAUDIT, {"formid": form_id, "data": {"Ids": self._ids(ids)}}, form_id)

    def execute_operation(self, form_id: str, op_number: str, ids: Iterable[object]) -> dict:
        """ExcuteOperation (sic), e.g. ``op_number`` "Forbid" or "Enable"."""
        body = {"formid": form_id, "opNumber": op_number, "data": {"Ids": self._ids(ids)}}
        return self._operate(protocol.EXCUTE_OPERATION, body, form_id)

    # -- the one request path ------------------------------------------------------------------

    def _call(self, service: str, body: dict, parse: Parse, *, form_id: str = "", filter_string: str = "",
              page_key: object = None, idempotent: bool = True, authenticated: bool = True) -> Any:
        numbers = itertools.count(1)
        context = {"service": _short(service), "form": form_id, "filter": self._redact(filter_string),
                   "page_key": page_key}

        def attempt(_: int) -> Any:
            number = next(numbers)
            if authenticated:
                self._ensure_login()
            result, rows, nbytes, ms = self._send(service, body, parse, form_id, authenticated)
            logger.info("kingdee %(service)s form=%(form)s filter=%(filter)s page_key=%(page_key)s "
                        "rows=%(rows)d bytes=%(bytes)d attempt=%(attempt)d ms=%(ms).0f",
                        {**context, "rows": rows, "bytes": nbytes, "attempt": number, "ms": ms})
            return result

        def on_retry(error: KingdeeError, number: int, delay: float) -> None:
            self.stats.add("retries")
            logger.warning("kingdee %s form=%s attempt=%d failed, retrying in %.2fs: %s",
                           context["service"], form_id, number, delay, error)

        may_retry = (lambda e: True) if idempotent else (lambda e: not getattr(e, "reached_server", True))
        describe = f"{context['service']} on {form_id}" if form_id else context["service"]
        try:
            for relogged in (False, True):
                try:
                    return self._retrier.run(attempt, describe=describe, may_retry=may_retry, on_retry=on_retry)
                except SessionLostError as error:
                    if relogged or not authenticated:
                        raise self._refused(describe, service, form_id, error) from error
                    self._relogin(describe, error)
        except KingdeeError as error:
            self.stats.add("failures")
            logger.error("kingdee %s form=%s filter=%s page_key=%s failed: %s", context["service"], form_id,
                         context["filter"], page_key, error)
            raise

    def _send(self, service: str, body: dict, parse: Parse, form_id: str,
              authenticated: bool) -> tuple[Any, int, int, float]:
        """One HTTP request: rate limit, headers, post, status check, decode, parse."""
        self.stats.add("rate_limited_wait_s", self._limiter.acquire())
        url = self.config.base_url + service + protocol.SERVICE_SUFFIX
        headers = {"Content-Type": "application/json", "Accept-Charset": "utf-8", "User-Agent": _USER_AGENT}
        if authenticated:
            headers.update(self._auth.request_headers(url))
            if self._session_id:
                headers[protocol.SESSION_HEADER] = self._session_id
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        started = time.perf_counter()
        nbytes = 0
        try:
            response = self._post(url, data, headers, service, form_id)
            nbytes = len(response.content)
            check_status(response.status_code, response.headers, lambda: response.text, service=service,
                         form_id=form_id, redact=self._redact)
            self._remember_session_cookie()
            result, rows = parse(decode_json(response.content, service=service, form_id=form_id,
                                             redact=self._redact), response.content)
        except ThrottledError:
            self.stats.add("throttled")
            raise
        finally:
            ms = (time.perf_counter() - started) * 1000
            self.stats.record_call(ms=ms, nbytes=nbytes)
        self.stats.add("rows", rows)
        return result, rows, nbytes, ms

    def _post(self, url: str, data: bytes, headers: dict, service: str, form_id: str) -> requests.Response:
        where = f"{_short(service)} on {form_id}" if form_id else _short(service)
        timeout = (self.config.connect_timeout_s, self.config.read_timeout_s)
        try:
            return self._http.post(url, data=data, headers=headers, timeout=timeout)
        except requests.Timeout as error:
            phase = "connect" if isinstance(error, requests.ConnectTimeout) else "read"
            raise TransientError(f"{where}: {phase} timeout ({timeout[0 if phase == 'connect' else 1]}s)",
                                 service=service, form_id=form_id, reached_server=not _never_sent(error)) from None
        except requests.ConnectionError as error:
            raise TransientError(f"{where}: connection failed: {self._redact(type(error).__name__)}",
                                 service=service, form_id=form_id, reached_server=not _never_sent(error)) from None

    # -- sessions ------------------------------------------------------------------------------

    def _ensure_login(self) -> None:
        if self._auth.login_service and not self._session_id:
            self._login()

    def _login(self) -> None:
        service = self._auth.login_service

        def parse(payload: Any, _content: bytes) -> tuple[str, int]:
            return login_session(payload, service=service, redact=self._redact,
                                 hint=settings_to_check(self.config)), 0

        session_id = self._call(service, self._auth.login_body(), parse, authenticated=False)
        self._redact.add_session_id(session_id)
        self._session_id = session_id or self._http.cookies.get(protocol.SESSION_COOKIE, "")

    def _refused(self, describe: str, service: str, form_id: str, error: SessionLostError) -> AuthError:
        """Session lost again right after re-authenticating: how Kingdee refuses a wrong user, app
        id, app secret or lcid (PROTOCOL.md §2), so an authentication failure, not a lost session."""
        how = ("refuses the signed requests" if not self._auth.login_service
               else "reports the session lost again right after a successful login")
        return AuthError(f"{describe}: authentication failed: Kingdee {how} (会话信息已丢失, MsgCode 1, is its "
                         f"answer to a wrong user, app id, app secret or lcid); {settings_to_check(self.config)} "
                         f"[{error}]", service=service, form_id=form_id)

    def _relogin(self, describe: str, error: SessionLostError) -> None:
        self.stats.add("relogins")
        logger.warning("kingdee %s: session lost, logging in again once and replaying", describe)
        self._session_id = ""
        self._http.cookies.clear()
        self._ensure_login()

    def _remember_session_cookie(self) -> None:
        # Signed-header mode gets its session only as a cookie; keep it out of logs too.
        sid = next((c.value for c in self._http.cookies if c.name == protocol.SESSION_COOKIE), None)
        if sid:
            self._redact.add_session_id(sid)
            if not self._auth.login_service:
                self._session_id = sid

    # -- helpers -------------------------------------------------------------------------------

    def _operate(self, service: str, body: dict, form_id: str) -> dict:
        def parse(payload: Any, _content: bytes) -> tuple[dict, int]:
            raise_for_status_envelope(payload, service=service, form_id=form_id, redact=self._redact,
                                      error_type=OperationError)
            return (payload.get("Result", payload) if isinstance(payload, dict) else payload), 0

        return self._call(service, body, parse, form_id=form_id, idempotent=False)

    @staticmethod
    def _field_keys(field_keys: Sequence[str] | str) -> list[str]:
        keys = field_keys.split(",") if isinstance(field_keys, str) else list(field_keys)
        return [field_key(k.strip()) for k in keys]

    @staticmethod
    def _query_body(form_id: str, keys: list[str], filter_string: str, order_string: str, start_row: int,
                    limit: int, top_row_count: int, sub_system_id: str) -> dict:
        return {"data": {"FormId": form_id, "FieldKeys": ",".join(keys), "FilterString": filter_string,
                         "OrderString": order_string, "TopRowCount": int(top_row_count),
                         "StartRow": int(start_row), "Limit": int(limit), "SubSystemId": sub_system_id}}

    @staticmethod
    def _ids(ids: Iterable[object]) -> str:
        return ",".join(str(int(i)) for i in ids)
