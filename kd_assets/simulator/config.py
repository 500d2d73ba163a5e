"""SimulatorConfig: every option of the simulator, and the command line built from it.

Each dataclass field is one CLI option (`--max-limit` for `max_limit`); its help text lives in
the field's metadata so `--help` and the code cannot drift apart.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any


def _opt(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


def _many(factory: Any, flag: str, metavar: str, help: str) -> Any:
    """A repeatable option (`--forms-dir A --forms-dir B`) collected into `factory()`."""
    return field(default_factory=factory, metadata={"help": help, "flag": flag, "metavar": metavar})


@dataclass(frozen=True)
class SimulatorConfig:
    """Settings of one simulator instance (server, data, auth, faults, behaviour switches)."""

    # Server
    host: str = _opt("127.0.0.1", "interface to listen on")
    port: int = _opt(8090, "TCP port; 0 picks a free port")
    db: str | None = _opt(None, "SQLite file to keep the data in (a form whose table already "
                                "holds rows keeps them); default: in memory")
    max_body_bytes: int = _opt(8 * 1024 * 1024, "largest request body accepted; larger ones get "
                                                "HTTP 413 and a response_error text")
    # Forms and data
    form_dirs: tuple[str, ...] = _many(tuple, "--forms-dir", "DIR",
                                       "folder of extra form field tables (*.yaml) to serve "
                                       "besides the shipped BD_Customer, BD_Supplier, "
                                       "BD_MATERIAL and SAL_SaleOrder; repeatable")
    customers: int = _opt(1000, "number of BD_Customer rows (FCUSTIDs) to generate")
    suppliers: int = _opt(300, "number of BD_Supplier rows (FSupplierIds) to generate")
    materials: int = _opt(300, "number of BD_MATERIAL rows (FMATERIALIDs) to generate")
    orders: int = _opt(200, "number of SAL_SaleOrder bills (FIDs) to generate, each with "
                            "1-200 lines (about 20 on average)")
    rows: dict[str, int] = _many(dict, "--rows", "FORM_ID=N",
                                 "rows to generate for a form (e.g. BD_Department=50); wins over "
                                 "--customers/--suppliers/--materials/--orders; repeatable")
    bill_lines: dict[str, tuple[int, int]] = _many(
        dict, "--bill-lines", "ENTITY=N[-MAX]",
        "lines per generated bill of an entry entity (FSaleOrderEntry=2000: every bill 2000 lines; "
        "=1-4: 1 to 4), instead of its field table's lines: min/max/mean (benchmarks of bills "
        "far beyond Kingdee's usual sizes); repeatable")
    seed: int = _opt(42, "random seed; the same seed and clock start give identical rows")
    dirty_share: float = _opt(0.02, "share of rows with dirty data (empty names, negative "
                                    "capital, malformed credit codes, modify before create)")
    history_days: int = _opt(6 * 365, "days of history before the clock's day that created and "
                                      "modified dates are spread over")
    millis_share: float = _opt(0.3, "share of datetimes that carry milliseconds (.123)")
    clock_start: str | None = _opt(None, "initial clock, 'YYYY-MM-DD HH:MM:SS' source-local "
                                         "(UTC+8); default: real time. Generated dates end at "
                                         "the start of that day")
    # Credentials
    acct_id: str = _opt("kd-demo", "data-center id (acctId)")
    username: str = _opt("demo", "integration user name")
    password: str = _opt("demo-pass", "password for ValidateUser")
    lcid: int = _opt(2052, "language id of the user (installed in the data center)")
    languages: str = _opt("2052", "lcids installed in the data center besides lcid, comma-separated; "
                                  "logins and signed requests in another language are refused as real "
                                  "servers refuse them, and Context.UseLanguages lists them")
    app_id: str = _opt("300001_S0RBU1NFVFMtREVNTy1BUFAtU0VDUkVU",
                       "registered third-party app id (clientId_encodedSecret)")
    app_secret: str = _opt("kdassets-demo-app-secret", "app secret for signatures and "
                                                       "LoginByAppSecret")
    # Query behaviour
    max_limit: int = _opt(2000, "row cap per query; larger Limit values are clamped")
    shuffle_unordered: bool = _opt(False, "return rows in random order when OrderString is "
                                          "empty (flushes out clients that rely on it)")
    # Auth behaviour
    session_ttl: float = _opt(1200.0, "idle seconds (on the simulator clock) before a session "
                                      "expires; 0 = never")
    silent_reissue: bool = _opt(False, "issue a fresh session id in Set-Cookie on every "
                                       "authenticated call, as some servers do")
    verify_api_signature: bool = _opt(True, "also verify X-Api-Signature when it is sent")
    visible_orgs: str = _opt("", "data permissions of the integration user: use-orgs whose rows it "
                                 "may see, comma-separated org FNumbers or ids (e.g. 100,101); rows "
                                 "of other use-orgs are silently left out of queries and keyed "
                                 "operations, as real servers do; empty = all")
    # Write behaviour
    enable_clears_forbid_date: bool = _opt(True, "Enable clears FForbidDate (the harder case "
                                                 "for incremental syncs)")
    # Faults
    fail_rate: float = _opt(0.0, "share of business requests that fail (HTTP 500/502 or a "
                                 "response_error body), drawn from the seed")
    throttle_rps: float = _opt(0.0, "business requests per second allowed before HTTP 429; "
                                    "0 = unlimited")
    retry_after: int = _opt(1, "seconds sent in Retry-After with HTTP 429")
    latency_ms: int = _opt(0, "added latency per business request, in milliseconds")
    activity: float = _opt(0.0, "every N seconds make a few edits, new rows, forbids and "
                                "audits in every served form (bills: new orders, line edits, "
                                "audits, closes) through the write services; 0 = off")
    activity_writeback: bool = _opt(False, "with --activity, also write delivered quantities back "
                                           "into a few bills' lines without moving FModifyDate, as "
                                           "later documents do on a real server")

    def with_overrides(self, **overrides: Any) -> "SimulatorConfig":
        return replace(self, **overrides)


def _form_rows(text: str) -> tuple[str, int]:
    form_id, eq, count = text.partition("=")
    if not eq or not form_id.strip() or not count.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected FORM_ID=N, got {text!r}")
    return form_id.strip(), int(count)


def _bill_lines(text: str) -> tuple[str, tuple[int, int]]:
    entity, eq, counts = text.partition("=")
    low, _, high = counts.partition("-")
    if not eq or not entity.strip() or not low.strip().isdigit() or not (high or low).strip().isdigit() \
            or int(low) > int(high or low):
        raise argparse.ArgumentTypeError(f"expected ENTITY=N or ENTITY=MIN-MAX (MIN <= MAX), got {text!r}")
    return entity.strip(), (int(low), int(high or low))


_ITEM_TYPES = {"rows": _form_rows, "bill_lines": _bill_lines}


def _add_option(parser: argparse.ArgumentParser, f: Any) -> None:
    flag = "--" + f.name.replace("_", "-")
    if "flag" in f.metadata:  # repeatable; both spellings work (--forms-dir, --form-dirs)
        flags = [f.metadata["flag"]] + ([flag] if flag != f.metadata["flag"] else [])
        parser.add_argument(*flags, dest=f.name, action="append", metavar=f.metadata["metavar"],
                            type=_ITEM_TYPES.get(f.name, str), help=f.metadata["help"])
        return
    default = f.default if f.default is not MISSING else None
    help_text = f"{f.metadata['help']} (default: {default})"
    if isinstance(default, bool):
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default,
                            help=help_text)
        return
    kind = {int: int, float: float}.get(type(default), str)
    parser.add_argument(flag, type=kind, default=default, help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kd_assets.simulator",
        description="A local Kingdee K3Cloud WebAPI server serving BD_Customer, BD_Supplier, "
                    "BD_MATERIAL and SAL_SaleOrder (and any form added by a field table with "
                    "--forms-dir), for demos, tests and benchmarks. Admin API under /_sim/ "
                    "(state, clock, faults, permissions, forms/<FORM_ID>/silent_update, "
                    "forms/<FORM_ID>/writeback).",
    )
    for f in fields(SimulatorConfig):
        _add_option(parser, f)
    return parser


def parse_args(argv: list[str] | None = None) -> SimulatorConfig:
    namespace = build_parser().parse_args(argv)
    values = {f.name: getattr(namespace, f.name) for f in fields(SimulatorConfig)}
    values["form_dirs"] = tuple(values["form_dirs"] or ())
    values["rows"] = dict(values["rows"] or ())
    values["bill_lines"] = dict(values["bill_lines"] or ())
    return SimulatorConfig(**values)
