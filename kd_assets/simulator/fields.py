"""The BD_Customer field catalog and how a field path (`FUseOrgId.FNumber`) maps to SQL.

Field keys are case-insensitive, as in Kingdee. Reference fields return their internal id when
bare and support `.FNumber` / `.FName`; anything else is an unknown field (MsgCode 9).
"""

from __future__ import annotations

from dataclasses import dataclass

FORM_ID = "BD_Customer"

# Column kinds. Dates are stored as 'YYYY-MM-DD HH:MM:SS[.fff]' so text order is time order.
INT, TEXT, REF, DATE, STATUS, DECIMAL, BOOL = "int", "text", "ref", "date", "status", "decimal", "bool"


@dataclass(frozen=True)
class Field:
    key: str
    kind: str
    label: str
    ref: str | None = None  # reference table for REF fields
    editable: bool = True  # may Save set it? System fields are stamped, never taken from input


def _f(key: str, kind: str, label: str, ref: str | None = None, editable: bool = True) -> Field:
    return Field(key, kind, label, ref, editable)


FIELDS: tuple[Field, ...] = (
    _f("FCUSTID", INT, "内码", editable=False),
    _f("FMasterId", INT, "主数据内码", editable=False),
    _f("FNumber", TEXT, "编码"),
    _f("FName", TEXT, "名称"),
    _f("FShortName", TEXT, "简称"),
    _f("FCreateOrgId", REF, "创建组织", "org"),
    _f("FUseOrgId", REF, "使用组织", "org"),
    _f("FDocumentStatus", STATUS, "数据状态", editable=False),
    _f("FForbidStatus", STATUS, "禁用状态", editable=False),
    _f("FRegisterFund", DECIMAL, "注册资本"),
    _f("FLegalPerson", TEXT, "法人代表"),
    _f("FSOCIALCRECODE", TEXT, "统一社会信用代码"),
    _f("FTAXREGISTERCODE", TEXT, "纳税登记号"),
    _f("FTEL", TEXT, "联系电话"),
    _f("FADDRESS", TEXT, "通讯地址"),
    _f("FGroup", REF, "客户分组", "cust_group"),
    _f("FCustTypeId", REF, "客户类别", "cust_type"),
    _f("FTRADINGCURRID", REF, "结算币别", "currency"),
    _f("FSELLER", REF, "销售员", "staff"),
    _f("FSALDEPTID", REF, "销售部门", "dept"),
    _f("FCreatorId", REF, "创建人", "user", editable=False),
    _f("FModifierId", REF, "修改人", "user", editable=False),
    _f("FForbidderId", REF, "禁用人", "user", editable=False),
    _f("FApproverId", REF, "审核人", "user", editable=False),
    _f("FCreateDate", DATE, "创建日期", editable=False),
    _f("FModifyDate", DATE, "修改日期", editable=False),
    _f("FForbidDate", DATE, "禁用日期", editable=False),
    _f("FApproveDate", DATE, "审核日期", editable=False),
    _f("FCOUNTRY", REF, "国家", "country"),
    _f("FPROVINCIAL", REF, "地区", "province"),
    _f("FZIP", TEXT, "邮政编码"),
    _f("FWEBSITE", TEXT, "公司网址"),
    _f("FFAX", TEXT, "传真"),
    _f("FIsGroup", BOOL, "集团客户"),
    _f("FIsDefPayer", BOOL, "默认付款方"),
    _f("FPriority", INT, "客户优先级"),
    _f("FDescription", TEXT, "描述"),
)
ALIASES = {"fauditdate": "FApproveDate", "fauditorid": "FApproverId"}
REF_TABLES = ("org", "user", "staff", "dept", "currency", "cust_group", "cust_type", "country",
              "province")
REF_PROPERTIES = {"fnumber": "number", "fname": "name"}

_BY_LOWER = {f.key.lower(): f for f in FIELDS}
_BY_LOWER.update({alias: _BY_LOWER[key.lower()] for alias, key in ALIASES.items()})


class UnknownField(ValueError):
    """A field path that BD_Customer does not have; `path` is the text the client sent."""

    def __init__(self, path: str) -> None:
        super().__init__(f"元数据中标识为 {path} 的字段不存在")
        self.path = path


def lookup(key: str) -> Field:
    """The field for a bare key, case-insensitively; raises UnknownField."""
    found = _BY_LOWER.get(key.strip().lower())
    if found is None:
        raise UnknownField(key.strip())
    return found


@dataclass(frozen=True)
class FieldPath:
    """A resolved field path: the field, and `number`/`name` when a reference sub-property."""

    field: Field
    prop: str | None

    @property
    def kind(self) -> str:
        # A reference's number or name is text; the bare reference is its integer id.
        if self.field.kind == REF:
            return TEXT if self.prop else INT
        return self.field.kind


def resolve(path: str) -> FieldPath:
    """Resolve `FKey` or `FRef.FNumber`/`FRef.FName`; raises UnknownField."""
    text = path.strip()
    head, dot, tail = text.partition(".")
    field = _BY_LOWER.get(head.lower())
    if field is None or not head:
        raise UnknownField(text)
    if not dot:
        return FieldPath(field, None)
    prop = REF_PROPERTIES.get(tail.lower())
    if field.kind != REF or prop is None:
        raise UnknownField(text)
    return FieldPath(field, prop)


class JoinSet:
    """Collects the reference joins a query needs and gives SQL expressions for field paths."""

    def __init__(self) -> None:
        self._aliases: dict[str, str] = {}

    def column(self, path: FieldPath) -> str:
        """SQL for the stored value (used in WHERE and ORDER BY)."""
        if path.prop is None:
            return f"c.{path.field.key}"
        alias = self._aliases.setdefault(path.field.key, f"r{len(self._aliases)}")
        return f"{alias}.{path.prop}"

    def output(self, path: FieldPath) -> str:
        """SQL that yields the JSON-ready value Kingdee would return for this path."""
        column = self.column(path)
        if path.kind == DATE:
            return f"replace({column}, ' ', 'T')"
        if path.kind == BOOL:
            return f"json(CASE WHEN {column} THEN 'true' ELSE 'false' END)"
        return column

    def sql(self) -> str:
        refs = {f.key: f.ref for f in FIELDS if f.ref}
        return "".join(
            f" LEFT JOIN ref_{refs[key]} {alias} ON {alias}.id = c.{key}"
            for key, alias in self._aliases.items()
        )
