"""FilterString → SQL WHERE with bound parameters, for the string form and the list form.

Kingdee pastes the string form into SQL; we parse it instead, so request text never reaches SQL:
every literal becomes a `?` parameter and every field path becomes a column we generate. What we
cannot parse is a bad filter (MsgCode 4, `GetRealExpress error`), as on a real server.

Grammar (keywords case-insensitive):
    expr      := and_expr (OR and_expr)*
    and_expr  := not_expr (AND not_expr)*
    not_expr  := NOT not_expr | '(' expr ')' | predicate
    predicate := operand cmp operand | path [NOT] LIKE str | path [NOT] IN '(' lit, ... ')'
               | path IS [NOT] NULL | path [NOT] BETWEEN lit AND lit
    cmp       := = | <> | != | > | >= | < | <=
The list form (`[{Left, FieldName, Compare, Value, Right, Logic}]`) is turned into the same
tokens and parsed by the same grammar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kd_assets.simulator.fields import BOOL, DATE, DECIMAL, INT, FieldPath, JoinSet, UnknownField

_TOKEN = re.compile(r"""\s*(?:
    (?P<string>[Nn]?'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
  | (?P<op><>|!=|>=|<=|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
)""", re.VERBOSE)
_KEYWORDS = {"and", "or", "not", "like", "in", "is", "null", "between"}
# Numeric Compare codes seen in real list-form filters: 67 '=' and 105 'StatusEqualto' are
# documented; 17 (contains) and 60 (starts with) are inferred from how clients use them.
_COMPARES = {"=": "=", "67": "=", "105": "=", "statusequalto": "=", "equal": "=",
             "<>": "<>", "!=": "<>", "notequal": "<>", "statusnotequalto": "<>",
             ">": ">", ">=": ">=", "<": "<", "<=": "<=",
             "17": "contains", "contains": "contains", "like": "contains",
             "60": "startswith", "startwith": "startswith", "startswith": "startswith",
             "endwith": "endswith", "endswith": "endswith"}
_LOGIC = {"0": "and", "and": "and", "": "and", "1": "or", "or": "or"}


class Clause(str):
    """SQL text plus `floor`: the lowest key value it lets through, when it implies one.

    A keyset filter `FID > x or (FID = x and FEntry_FEntryID > y)` implies `FID >= x`; stating
    that bound lets SQLite range-scan the header instead of joining every earlier bill's lines.
    """

    floor: Any = None


def _clause(sql: str, floor: Any = None) -> Clause:
    clause = Clause(sql)
    clause.floor = floor
    return clause


def _and_floor(parts: list[Clause]) -> Any:
    floors = [p.floor for p in parts if p.floor is not None]
    return max(floors) if floors else None


def _or_floor(parts: list[Clause]) -> Any:
    floors = [p.floor for p in parts]
    return None if any(f is None for f in floors) else min(floors)


class BadFilter(ValueError):
    """A FilterString the server cannot translate (MsgCode 4)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"GetRealExpress error: {detail}")


@dataclass(frozen=True)
class Token:
    kind: str  # string | number | op | punct | word | end
    text: str
    value: Any = None


def tokenize(text: str) -> list[Token]:
    tokens, pos, text = [], 0, text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise BadFilter(f"无法识别的字符，位置 {pos}: {text[pos:pos + 20]!r}")
        kind = match.lastgroup
        raw = match.group(kind)
        if kind == "string":
            tokens.append(Token("string", raw, raw[raw.index("'") + 1:-1].replace("''", "'")))
        elif kind == "number":
            tokens.append(Token("number", raw, float(raw) if "." in raw else int(raw)))
        else:
            tokens.append(Token(kind, raw))
        pos = match.end()
    return tokens


def list_form_tokens(items: list) -> list[Token]:
    """Tokens for the list form; each item's Logic joins it to the next item."""
    tokens: list[Token] = []
    for index, raw in enumerate(items):
        if not isinstance(raw, dict):
            raise BadFilter(f"FilterString 第 {index + 1} 项不是对象")
        item = {str(k).lower(): v for k, v in raw.items()}
        field = str(item.get("fieldname") or "").strip()
        compare = _COMPARES.get(str(item.get("compare", "")).strip().lower())
        if not field or compare is None:
            raise BadFilter(f"FilterString 第 {index + 1} 项的 FieldName/Compare 无效: {raw}")
        tokens += [Token("punct", "(")] * str(item.get("left") or "").count("(")
        tokens += _list_predicate(field, compare, item.get("value"))
        tokens += [Token("punct", ")")] * str(item.get("right") or "").count(")")
        if index < len(items) - 1:
            logic = _LOGIC.get(str(item.get("logic", "")).strip().lower())
            if logic is None:
                raise BadFilter(f"FilterString 第 {index + 1} 项的 Logic 无效: {item.get('logic')}")
            tokens.append(Token("word", logic))
    return tokens


def _list_predicate(field: str, compare: str, value: Any) -> list[Token]:
    text = "" if value is None else str(value)
    like = {"contains": f"%{text}%", "startswith": f"{text}%", "endswith": f"%{text}"}
    if compare in like:
        escaped = re.sub(r"([\[%_])", r"[\1]", text)  # the value is literal, not a pattern
        pattern = like[compare].replace(text, escaped, 1) if text else like[compare]
        return [Token("word", field), Token("word", "like"), Token("string", "", pattern)]
    return [Token("word", field), Token("op", compare), Token("string", "", text)]


class _Parser:
    """Recursive descent over tokens, emitting SQL fragments and parameters."""

    def __init__(self, tokens: list[Token], joins: JoinSet) -> None:
        self.tokens = tokens + [Token("end", "")]
        self.pos = 0
        self.joins = joins
        self.params: list[Any] = []

    # -- token helpers
    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def is_word(self, word: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token.kind == "word" and token.text.lower() == word

    def take(self) -> Token:
        token = self.peek()
        self.pos += 1
        return token

    def expect_word(self, word: str) -> None:
        if not self.is_word(word):
            raise BadFilter(f"应为 {word.upper()}，实际为 {self.peek().text!r}")
        self.pos += 1

    def expect_punct(self, punct: str) -> None:
        if self.peek().text != punct or self.peek().kind != "punct":
            raise BadFilter(f"应为 {punct!r}，实际为 {self.peek().text!r}")
        self.pos += 1

    # -- grammar
    def parse(self) -> str:
        sql = self.expr()
        if self.peek().kind != "end":
            raise BadFilter(f"多余的内容: {self.peek().text!r}")
        return sql

    def expr(self) -> Clause:
        parts = [self.and_expr()]
        while self.is_word("or"):
            self.pos += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else _clause("(" + " OR ".join(parts) + ")", _or_floor(parts))

    def and_expr(self) -> Clause:
        parts = [self.not_expr()]
        while self.is_word("and"):
            self.pos += 1
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else _clause("(" + " AND ".join(parts) + ")", _and_floor(parts))

    def not_expr(self) -> Clause:
        if self.is_word("not"):
            self.pos += 1
            return _clause(f"(NOT {self.not_expr()})")
        if self.peek().kind == "punct" and self.peek().text == "(":
            self.pos += 1
            inner = self.expr()
            self.expect_punct(")")
            return _clause(f"({inner})", inner.floor)
        predicate = self.predicate()
        return predicate if isinstance(predicate, Clause) else _clause(predicate)

    def predicate(self) -> str:
        left = self.operand()
        negate = self.is_word("not") and any(self.is_word(w, 1) for w in ("like", "in", "between"))
        if negate:
            self.pos += 1
        token = self.peek()
        if token.kind == "op":
            self.pos += 1
            return self.comparison(left, token.text, self.operand())
        keyword = token.text.lower() if token.kind == "word" else ""
        if keyword not in ("like", "in", "is", "between") or left[1] is None:
            raise BadFilter(f"应为比较运算符，实际为 {token.text!r}")
        self.pos += 1
        return getattr(self, "pred_" + keyword)(left, "NOT " if negate else "")

    def pred_like(self, left: tuple, negate: str) -> str:
        token = self.take()
        if token.kind != "string":
            raise BadFilter("LIKE 之后应为字符串")
        self.params.append(like_pattern(token.value))
        return f"{left[0]} {negate}LIKE ? ESCAPE '\\'"

    def pred_in(self, left: tuple, negate: str) -> str:
        self.expect_punct("(")
        marks = [self.bound(left[1], self.literal())]
        while self.peek().text == "," and self.peek().kind == "punct":
            self.pos += 1
            marks.append(self.bound(left[1], self.literal()))
        self.expect_punct(")")
        return f"{left[0]} {negate}IN ({', '.join(marks)})"

    def pred_is(self, left: tuple, negate: str) -> str:
        negate = "NOT " if self.is_word("not") else ""
        self.pos += bool(negate)
        self.expect_word("null")
        return f"{left[0]} IS {negate}NULL"

    def pred_between(self, left: tuple, negate: str) -> str:
        low = self.bound(left[1], self.literal())
        self.expect_word("and")
        high = self.bound(left[1], self.literal())
        return f"{left[0]} {negate}BETWEEN {low} AND {high}"

    def comparison(self, left: tuple, op: str, right: tuple) -> Clause:
        op = "<>" if op == "!=" else op
        # A literal is converted for the field on the other side (dates, numbers, booleans).
        left_sql = left[0] if left[1] else self.bound(right[1], left[2])
        right_sql = right[0] if right[1] else self.bound(left[1], right[2])
        is_key = (left[1] is not None and right[1] is None and left[1].prop is None
                  and left[1].field.key == self.joins.form.key and op in (">", ">=", "="))
        return _clause(f"{left_sql} {op} {right_sql}", self.params[-1] if is_key else None)

    def operand(self) -> tuple[str, FieldPath | None, Any]:
        """(sql, field path or None, literal value) for a field path or a literal."""
        token = self.peek()
        if token.kind == "word" and token.text.lower() not in _KEYWORDS:
            self.pos += 1
            try:
                path = self.joins.form.resolve(token.text)
            except UnknownField as err:
                raise BadFilter(str(err)) from err
            return _filter_column(self.joins, path), path, None
        return "", None, self.literal()

    def literal(self) -> Any:
        token = self.take()
        if token.kind not in ("string", "number"):
            raise BadFilter(f"应为常量，实际为 {token.text or '结尾'!r}")
        return token.value

    def parse_with_floor(self) -> str:
        """The WHERE text, with the header-key bound it implies stated (see Clause)."""
        clause = self.parse()
        if isinstance(clause, Clause) and clause.floor is not None:
            self.params.append(clause.floor)
            return f"({clause}) AND c.{self.joins.form.key} >= ?"
        return clause

    def bound(self, path: FieldPath | None, value: Any) -> str:
        self.params.append(coerce_literal(path, value))
        return "?"


def _filter_column(joins: JoinSet, path: FieldPath) -> str:
    column = joins.condition(path)
    # Registered capital is sometimes stored as a numeric string; compare it as a number.
    return f"CAST({column} AS REAL)" if path.kind == DECIMAL else column


def coerce_literal(path: FieldPath | None, value: Any) -> Any:
    """Convert a literal for comparison with `path`, as SQL Server's implicit conversion would."""
    if path is None:
        return value
    kind = path.kind
    try:
        if kind == DATE:
            return normalize_datetime(str(value))
        if kind == INT:
            return int(str(value).strip())
        if kind == DECIMAL:
            return float(str(value).strip())
        if kind == BOOL:
            return {"1": 1, "0": 0, "true": 1, "false": 0}[str(value).strip().lower()]
    except (ValueError, KeyError) as err:
        raise BadFilter(f"字段 {path.field.key} 无法与常量 {value!r} 比较") from err
    return str(value) if isinstance(value, (int, float)) else value


def normalize_datetime(text: str) -> str:
    """'YYYY-MM-DD[ HH:MM[:SS[.fff]]]' (or with 'T' or '/') → the stored text form."""
    parsed = datetime.fromisoformat(text.strip().replace("/", "-").replace("T", " "))
    stored = parsed.isoformat(" ", "seconds")
    millis = parsed.microsecond // 1000
    # Stored values omit a zero fraction, so must the literal, or '…:05.000' > '…:05'.
    return f"{stored}.{millis:03d}" if millis else stored


def like_pattern(pattern: str) -> str:
    """T-SQL LIKE pattern → SQLite LIKE with '\\' escapes; `[x]` brackets quote one character."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "[":
            end = pattern.find("]", i + 2)
            if end != i + 2:
                raise BadFilter(f"不支持的 LIKE 模式: {pattern!r}")
            char = pattern[i + 1]
            out.append("\\" + char if char in "%_\\" else char)
            i = end + 1
            continue
        out.append("\\\\" if char == "\\" else char)
        i += 1
    return "".join(out)


def compile_filter(filter_value: Any, joins: JoinSet) -> tuple[str, list[Any]]:
    """WHERE fragment (or '' for no filter) and its parameters; raises BadFilter."""
    if filter_value is None or (isinstance(filter_value, str) and not filter_value.strip()):
        return "", []
    if isinstance(filter_value, list):
        if not filter_value:
            return "", []
        tokens = list_form_tokens(filter_value)
    elif isinstance(filter_value, str):
        tokens = tokenize(filter_value)
    else:
        raise BadFilter(f"FilterString 类型无效: {type(filter_value).__name__}")
    parser = _Parser(tokens, joins)
    return parser.parse_with_floor(), parser.params
