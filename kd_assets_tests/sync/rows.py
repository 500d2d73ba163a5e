"""Kingdee-format BD_Customer rows for tests: lists in FieldKeys order, overridable by column."""

from __future__ import annotations

import pandas as pd

from kd_assets.sync.schemas import validate
from kd_assets.sync.spec import load_spec
from kd_assets.sync.transform import to_frame

SPEC = load_spec("bd_customer")

BASE = {
    "master_id": 1, "customer_number": "CUST0001", "customer_name": "Acme Trading", "short_name": "Acme",
    "creating_org": "100", "using_org": "100", "document_status": "C", "forbid_status": "A",
    "registered_capital": 1000000, "legal_person": "Li Lei", "social_credit_code": "91350100M000100Y43",
    "tax_register_code": "91350100M000100Y43", "phone": "0591-1234567", "address": "Fuzhou",
    "customer_group": "G01", "customer_type": "KHLB001_SYS", "trading_currency": "PRE001",
    "seller": "S001", "sales_dept": "D001", "is_group": False, "created_at": "2024-01-02T09:00:00",
    "modified_at": "2024-05-07T10:00:00", "forbidden_at": None, "approved_at": "2024-05-07T09:00:00",
}


def kd_row(key: int | object, spec=SPEC, **columns) -> list:
    """One row as ExecuteBillQuery returns it; ``columns`` override values by target column name."""
    values = {**BASE, **columns, spec.key_column: key}
    by_field: dict[str, object] = {}
    for c in spec.columns:  # a field read by two columns takes the value given for either
        if c.field not in by_field or c.name in columns:
            by_field[c.field] = values.get(c.name)
    return [by_field[f] for f in spec.field_keys]


def clean_frame(*rows, spec=SPEC):
    """Transform and validate rows that are expected to be clean; fail loudly if any is rejected."""
    result = validate(spec, to_frame(spec, list(rows)), now=pd.Timestamp("2030-01-01"))
    assert result.rejects.empty, result.rejects.to_dict("records")
    return result.clean
