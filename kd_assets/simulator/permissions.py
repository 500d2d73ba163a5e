"""Data permissions of the integration user: which use-orgs' rows it may see.

Real K3Cloud filters base data by the user's data permissions without an error (PROTOCOL.md,
"Data permissions"): a query, or a write naming a key, simply does not find rows of another
use-org. The simulator serves one integration user (the configured `username`); its visible
use-orgs come from `--visible-orgs` and change at run time through `POST /_sim/permissions`.
None means every use-org (the default).
"""

from __future__ import annotations

import threading
from typing import Any, Iterable

from kd_assets.simulator.fields import Form


class UnknownOrg(ValueError):
    """An org named in visible_orgs that the org reference table does not hold."""


def parse_org_list(value: Any) -> list[str] | None:
    """`"100,101"` or `["100", 100329]` → org texts; None, `""` or `"all"` → None (every use-org).
    An empty list hides every use-org."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "all")):
        return None
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"visible_orgs must be a list or comma-separated text, got {value!r}")
    return [str(item).strip() for item in items if str(item).strip()]


class DataPermissions:
    """The use-orgs (internal org ids) the integration user may see; None: all of them."""

    def __init__(self, orgs: list[tuple]) -> None:
        self._by_number = {str(number).lower(): int(org_id) for org_id, number, _ in orgs}
        self._numbers = {int(org_id): str(number) for org_id, number, _ in orgs}
        self._visible: frozenset[int] | None = None
        self._lock = threading.Lock()

    def resolve(self, names: Iterable[str]) -> frozenset[int]:
        """Org FNumbers (as the ERP admin sees them) or internal ids → internal ids."""
        found = set()
        for name in names:
            org_id = self._by_number.get(name.lower())
            if org_id is None and name.isdigit() and int(name) in self._numbers:
                org_id = int(name)
            if org_id is None:
                raise UnknownOrg(f"visible_orgs: no org {name!r}; known orgs (FNumber=id): "
                                 + ", ".join(f"{n}={i}" for i, n in sorted(self._numbers.items())))
            found.add(org_id)
        return frozenset(found)

    def set_visible(self, names: list[str] | None) -> None:
        visible = None if names is None else self.resolve(names)
        with self._lock:
            self._visible = visible

    @property
    def visible(self) -> frozenset[int] | None:
        with self._lock:
            return self._visible

    def sql(self, form: Form, alias: str = "") -> tuple[str, list[int]]:
        """A WHERE condition keeping only visible rows of `form` (empty when all are visible)."""
        visible = self.visible
        if visible is None or not form.use_org:  # forms without a use-org (bills) are all visible
            return "", []
        if not visible:
            return "0 = 1", []
        column = f"{alias}.{form.use_org}" if alias else form.use_org
        return f"{column} IN ({', '.join('?' * len(visible))})", sorted(visible)

    def state(self) -> list[str] | None:
        """Visible org FNumbers for /_sim/state and the admin answer (None: all)."""
        visible = self.visible
        return None if visible is None else sorted(self._numbers[i] for i in visible)
