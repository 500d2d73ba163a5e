"""The forms the randomized end-to-end tests change, as the tests see them.

A ``FormView`` names, for one shipped form, its definitions, its source fields compared with
target columns (normalized by the test, not by the product), its change-time columns and the
fields a random edit writes. Customers and suppliers differ where Kingdee's forms differ: the key
(FCUSTID / FSupplierId), the audit date (FApproveDate / FAuditDate) and registered capital (an
amount read from a number / a text field holding `500万元` as tenants write it).
"""

from __future__ import annotations

from dataclasses import dataclass

from kd_assets.definitions import form_definitions
from kd_assets_tests.bills.line_compare import COMPARED as LINE_COLUMNS

FORMS = form_definitions()


@dataclass(frozen=True)
class FormView:
    name: str                     # the form's name in its defs.yaml (customers, suppliers)
    compared: dict[str, str]      # source field → target column
    change_columns: tuple[str, ...]
    money_columns: tuple[str, ...] = ()
    phone_field: str = "FTEL"     # the second field an edit or a silent update writes
    capital_as_text: bool = False
    allocates: bool = False       # Allocate is exercised on this form

    @property
    def defs(self):
        return FORMS[self.name]

    @property
    def spec(self):
        return self.defs.settings.spec

    @property
    def form_id(self) -> str:
        return self.spec.form_id

    @property
    def key_field(self) -> str:
        return self.spec.key_field

    @property
    def change_fields(self) -> tuple[str, ...]:
        return tuple(self.spec.change_time_fields)

    @property
    def time_columns(self) -> tuple[str, ...]:
        return (*self.change_columns, "change_time")


CUSTOMERS = FormView(
    "customers",
    {"FNumber": "customer_number", "FName": "customer_name", "FDocumentStatus": "document_status",
     "FForbidStatus": "forbid_status", "FRegisterFund": "registered_capital", "FTEL": "phone",
     "FModifyDate": "modified_at", "FForbidDate": "forbidden_at", "FApproveDate": "approved_at"},
    ("modified_at", "forbidden_at", "approved_at"), money_columns=("registered_capital",), allocates=True)

SUPPLIERS = FormView(
    "suppliers",
    {"FNumber": "supplier_number", "FName": "supplier_name", "FDocumentStatus": "document_status",
     "FForbidStatus": "forbid_status", "FRegisterFund": "registered_capital_text", "FAddress": "address",
     "FModifyDate": "modified_at", "FForbidDate": "forbidden_at", "FAuditDate": "audited_at"},
    ("modified_at", "forbidden_at", "audited_at"), phone_field="FAddress", capital_as_text=True)

# A bill: one target row per order line (bills/line_compare.py compares them column by column).
SALE_ORDERS = FormView("sale_orders", dict(LINE_COLUMNS), ("modified_at", "approved_at", "closed_at"))

VIEWS = {v.name: v for v in (CUSTOMERS, SUPPLIERS, SALE_ORDERS)}
