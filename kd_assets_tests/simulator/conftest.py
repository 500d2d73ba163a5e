"""A thin raw-HTTP Kingdee caller for simulator tests (requests only; no client code shared)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from kd_assets.kingdee import protocol as p

FORM = "BD_Customer"
ALL_KEYS = ("FCUSTID,FMasterId,FNumber,FName,FUseOrgId.FNumber,FDocumentStatus,FForbidStatus,"
            "FCreateDate,FModifyDate,FForbidDate,FApproveDate,FRegisterFund,FSOCIALCRECODE")


class Kingdee:
    """Calls services of one simulator over HTTP with a cookie-keeping session."""

    def __init__(self, handle: Any, form: str = FORM, key: str = "FCUSTID") -> None:
        self.handle = handle
        self.form = form
        self.key = key
        self.http = requests.Session()

    def on(self, form: str, key: str) -> "Kingdee":
        """A caller of another form sharing this one's session."""
        other = Kingdee(self.handle, form, key)
        other.http = self.http
        return other

    def url(self, service: str) -> str:
        return self.handle.base_url + service + p.SERVICE_SUFFIX

    def post(self, service: str, body: Any = None, **kwargs: Any) -> requests.Response:
        if body is not None:
            kwargs["json"] = body
        return self.http.post(self.url(service), timeout=10, **kwargs)

    def login(self) -> dict:
        cfg = self.handle.config
        response = self.post(p.VALIDATE_USER, {"parameters": [cfg.acct_id, cfg.username,
                                                              cfg.password, cfg.lcid]})
        assert response.json()["LoginResultType"] == p.LOGIN_SUCCESS
        return response.json()

    def query(self, field_keys: str = ALL_KEYS, service: str = p.EXECUTE_BILL_QUERY,
              **params: Any) -> Any:
        data = {"FormId": self.form, "FieldKeys": field_keys, **params}
        response = self.post(service, {"data": data})
        assert response.status_code == 200, response.text
        return response.json()

    def rows(self, field_keys: str = ALL_KEYS, **params: Any) -> list[list]:
        """All rows matching, paged by key so nothing is capped."""
        found, last = [], 0
        extra = params.pop("FilterString", "")
        while True:
            where = f"{self.key} > {last}" + (f" and ({extra})" if extra else "")
            page = self.query(f"{self.key}," + field_keys, FilterString=where,
                              OrderString=f"{self.key} ASC", **params)
            assert isinstance(page, list) and (not page or isinstance(page[0], list)), page
            found += [row[1:] for row in page]
            if len(page) < self.handle.config.max_limit:
                return found
            last = page[-1][0]

    def operate(self, service: str, payload: dict) -> dict:
        response = self.post(service, payload)
        assert response.status_code == 200, response.text
        return response.json()

    def admin(self, route: str, body: dict | None = None) -> dict:
        url = self.handle.admin_url + route
        response = (requests.post(url, json=body, timeout=10) if body is not None
                    else requests.get(url, timeout=10))
        assert response.status_code == 200, response.text
        return response.json()


def error_status(envelope: Any) -> dict:
    """The ResponseStatus of an error, unwrapping ExecuteBillQuery's [[...]]."""
    if isinstance(envelope, list):
        envelope = envelope[0][0]
    return envelope["Result"]["ResponseStatus"]


@pytest.fixture
def kd(simulator: Any) -> Kingdee:
    """A logged-in caller of the small `simulator`."""
    caller = Kingdee(simulator)
    caller.login()
    return caller
