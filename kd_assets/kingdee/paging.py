"""Keyset paging over ExecuteBillQuery: ``key > last`` ordered by key, never ``StartRow`` offsets.

Offsets drift when rows enter or leave the filter while we page (peers.md §3.2): a row edited
out of the window shifts every later row one place forward and the next page skips one. Paging
by key has no such drift: each page asks for "keys after the last one we saw", so a row is read
at most once per scan, and every row that matches the filter for the whole scan is read.

A bill's rows (one per entry line) are paged by the pair (bill id, entry id):
``FID > x or (FID = x and <entry key> > y)`` ordered ``FID ASC, <entry key> ASC``, so a bill
whose lines straddle a page boundary continues on the next page, neither split wrongly nor
repeated. A bill without lines is one row with entry id 0 (null on some servers: read as 0).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Union

from .errors import MalformedResponseError
from .filters import (
    Window, combine, compare, field_key, in_predicate, keyset_predicate, render_template, window_predicate,
    window_template_values,
)

if TYPE_CHECKING:
    from .client import K3CloudClient

# A key field, or (bill id field, entry id field) for a bill's lines.
PageKey = Union[str, tuple[str, str]]


def iter_keyset(client: K3CloudClient, form_id: str, field_keys: Sequence[str], filter_string: str = "", *,
                key_field: PageKey, page_size: int | None = None, at_most: int | None = None) -> Iterator[list[list]]:
    """Pages (lists of rows in ``field_keys`` order) of every row matching ``filter_string``.

    ``key_field`` must be unique per row (the spec's key, FCUSTID for BD_Customer), or a pair
    (FID, entry key) unique per bill line. Key fields are fetched even when not asked for, then
    cut off again. The scan ends on an empty page, never on a short one: a server whose row cap
    (WebAPIMaxQueryLimit) is below the page size silently returns fewer rows than asked, so a
    short page proves nothing. ``at_most`` (the number of keys of an ``in (...)`` filter) ends it
    early once that many rows came, since no more can match.
    """
    key_fields = (key_field,) if isinstance(key_field, str) else tuple(key_field)
    keys = [field_key(k) for k in field_keys]
    fetched = keys + [field_key(k) for k in key_fields if k not in keys]
    key_index = [fetched.index(k) for k in key_fields]
    size = client.page_size_for(page_size)
    order = ", ".join(f"{k} ASC" for k in key_fields)
    last: tuple | None = None
    short = 0  # length of the previous page if it was shorter than asked
    seen = 0
    while True:
        page_filter = filter_string if last is None else combine(filter_string, _after(key_fields, last))
        rows = client.execute_bill_query(form_id, fetched, page_filter, order_string=order,
                                         start_row=0, limit=size, top_row_count=0,
                                         page_key=None if last is None else last if len(last) > 1 else last[0])
        _check_ascending(rows, key_index, last, form_id, key_fields)
        if not rows:
            return
        if short and len(rows) == short:
            # Two pages of the same short length: a server cap, not the end. Ask for what it gives.
            size = client.learn_row_cap(form_id, asked=size, returned=short)
        short = len(rows) if len(rows) < size else 0
        yield rows if len(fetched) == len(keys) else [row[:len(keys)] for row in rows]
        seen += len(rows)
        if at_most is not None and seen >= at_most:
            return
        last = _row_key(rows[-1], key_index)


def _row_key(row: list, key_index: list[int]) -> tuple:
    """The row's page key; a null entry id (a bill without lines) is entry 0."""
    return tuple(row[i] if row[i] is not None or n == 0 else 0 for n, i in enumerate(key_index))


def _after(key_fields: tuple[str, ...], last: tuple) -> str:
    if len(key_fields) == 1:
        return keyset_predicate(key_fields[0], last[0])
    (bill, entry), (bill_id, entry_id) = key_fields, last
    same_bill = f"{compare(bill, '=', bill_id)} and {keyset_predicate(entry, entry_id)}"
    return f"{keyset_predicate(bill, bill_id)} or ({same_bill})"


def _page_keys(rows: list[list], key_index: list[int]) -> list[tuple]:
    """Every row's page key (as ``_row_key``), built column by column."""
    columns = []
    for n, i in enumerate(key_index):
        column = [row[i] for row in rows]
        if n and None in column:
            column = [0 if v is None else v for v in column]
        columns.append(column)
    return list(zip(*columns))


def _check_ascending(rows: list[list], key_index: list[int], last: tuple | None, form_id: str,
                     key_fields: tuple[str, ...]) -> None:
    """Keyset paging is only complete if the server honours the key order; verify it."""
    keys = _page_keys(rows, key_index)
    chain = keys if last is None else [last, *keys]
    try:
        if all(map(operator.lt, chain, chain[1:])):  # compared in C; the loop below names the culprit
            return
    except TypeError:
        pass
    previous = last
    for row in rows:
        key = _row_key(row, key_index)
        if previous is not None and not key > previous:
            raise MalformedResponseError(
                f"ExecuteBillQuery on {form_id}: {', '.join(key_fields)} not strictly ascending ({previous!r} then "
                f"{key!r}); keyset paging would be incomplete", form_id=form_id, kind="order")
        previous = key


def iter_window(client: K3CloudClient, form_id: str, field_keys: Sequence[str], window: Window, *,
                key_field: PageKey, change_fields: Sequence[str], extra_filter: str = "",
                page_size: int | None = None) -> Iterator[list[list]]:
    """Pages of rows whose change time lies in ``[window.start, window.end)`` over any change field.

    ``extra_filter`` is and-ed in parentheses; its ``{{WINDOW_START|datetime}}``,
    ``{{WINDOW_END|datetime}}`` and ``{{LAST_SYNC_TIME|datetime}}`` placeholders become literals.
    """
    tz = client.config.source_timezone
    extra = render_template(extra_filter, window_template_values(window), tz) if "{{" in extra_filter else extra_filter
    filter_string = combine(window_predicate(change_fields, window, tz), extra)
    return iter_keyset(client, form_id, field_keys, filter_string, key_field=key_field, page_size=page_size)


def iter_keys(client: K3CloudClient, form_id: str, *, key_field: PageKey, extra_fields: Sequence[str] = (),
              extra_filter: str = "", page_size: int | None = None) -> Iterator[list[list]]:
    """Pages of ``[*key fields, *extra_fields]`` for every row: the key-set scan that finds deletes."""
    key_fields = [key_field] if isinstance(key_field, str) else list(key_field)
    return iter_keyset(client, form_id, [*key_fields, *extra_fields], extra_filter, key_field=key_field,
                       page_size=page_size)


def fetch_by_keys(client: K3CloudClient, form_id: str, field_keys: Sequence[str], keys: Iterable[object], *,
                  key_field: PageKey) -> Iterator[list[list]]:
    """Pages of the rows whose ``key_field`` is in ``keys``, asked for ``keys_per_request`` at a time.

    For a bill (``key_field`` a pair) ``keys`` are bill ids and every line of those bills comes."""
    chunk_size = min(client.config.keys_per_request, client.config.server_max_limit)
    remaining = iter(keys)
    bill = not isinstance(key_field, str)
    while chunk := list(islice(remaining, chunk_size)):
        yield from iter_keyset(client, form_id, field_keys, in_predicate(key_field[0] if bill else key_field, chunk),
                               key_field=key_field, at_most=None if bill else len(set(chunk)))
