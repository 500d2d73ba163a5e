"""--history-days bounds how far back generated customers were created and changed."""

from __future__ import annotations

import requests

URL_SUFFIX = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.ExecuteBillQuery.common.kdsvc"


def _dates(sim, field: str) -> list[str]:
    session = requests.Session()
    login = session.post(sim.base_url + "Kingdee.BOS.WebApi.ServicesStub.AuthService.ValidateUser.common.kdsvc",
                         json={"parameters": ["kd-demo", "demo", "demo-pass", 2052]}, timeout=10)
    assert login.json()["LoginResultType"] == 1
    body = {"data": {"FormId": "BD_Customer", "FieldKeys": field, "OrderString": f"{field} ASC", "Limit": 2000}}
    return [row[0] for row in session.post(sim.base_url + URL_SUFFIX, json=body, timeout=10).json()]


def test_history_days_bounds_generated_dates(simulator_factory):
    sim = simulator_factory(customers=500, history_days=30, clock_start="2024-03-01 12:00:00")

    created = _dates(sim, "FCreateDate")

    assert created[0] >= "2024-01-31" and created[-1] < "2024-03-01"
