"""The simulator's parts wired together, and the in-thread server handle tests use."""

from __future__ import annotations

import random
import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, replace
from typing import Iterator

from kd_assets.simulator.allocation import AllocationService
from kd_assets.simulator.auth import Authenticator
from kd_assets.simulator.billdata import BillGenerator
from kd_assets.simulator.clock import SimClock, parse_clock_text
from kd_assets.simulator.config import SimulatorConfig
from kd_assets.simulator.data import RowGenerator, reference_rows
from kd_assets.simulator.faults import FaultInjector
from kd_assets.simulator.fields import Form
from kd_assets.simulator.formfile import FormFileError, load_catalog
from kd_assets.simulator.permissions import DataPermissions, parse_org_list
from kd_assets.simulator.query import QueryService
from kd_assets.simulator.store import Store
from kd_assets.simulator.writes import WriteService


class SimulatorApp:
    """Everything one simulator instance knows: data, clock, sessions, faults and counters."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.clock = SimClock(parse_clock_text(config.clock_start) if config.clock_start else None)
        self.catalog = load_catalog(config.form_dirs)
        self.refs = reference_rows(config.username, self.catalog.refs)
        self.store = Store(config.db, self.catalog.forms.values(), self.refs)
        self.seed_data()
        self.auth = Authenticator(config, self.clock.now)
        self.faults = FaultInjector(config)
        self.permissions = DataPermissions(self.refs["org"])
        self.permissions.set_visible(parse_org_list(config.visible_orgs))
        self.queries = QueryService(self.catalog, self.store, config.max_limit,
                                    config.shuffle_unordered, random.Random(config.seed + 3),
                                    self.permissions)
        self.writes = WriteService(self.catalog, self.store, self.clock.now, config.millis_share,
                                   config.seed, config.enable_clears_forbid_date, self.permissions)
        self.allocations = AllocationService(self.writes)
        self.requests: Counter[str] = Counter()
        self._counter_lock = threading.Lock()

    def row_count(self, form: Form) -> int:
        """Rows to generate: `rows[FORM_ID]`, else the form's config option, else its default."""
        by_form = {k.lower(): v for k, v in self.config.rows.items()}
        if form.form_id.lower() in by_form:
            return int(by_form[form.form_id.lower()])
        if form.count_option:
            if not hasattr(self.config, form.count_option):
                raise FormFileError(f"{form.source}: rows_option: SimulatorConfig has no "
                                    f"option {form.count_option!r}")
            return int(getattr(self.config, form.count_option))
        return form.default_rows

    def seed_data(self) -> None:
        """Generate each form's rows unless the database file already holds some (keep them)."""
        unknown = [k for k in self.config.rows if self.catalog.get(k) is None]
        if unknown:
            raise FormFileError(f"rows: no served form {sorted(unknown)}; served: "
                                f"{sorted(f.form_id for f in self.catalog.forms.values())}")
        entities = {e.key.lower(): e.key for f in self.catalog.forms.values() for e in f.entities}
        unknown = [k for k in self.config.bill_lines if k.lower() not in entities]
        if unknown:
            raise FormFileError(f"bill_lines: no entry entity {sorted(unknown)}; served: {sorted(entities.values())}")
        self.store.load_refs(self.refs)
        # Dates end at the start of the clock's day, so a seed gives the same rows all day.
        end = self.clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
        cfg = self.config
        # Bills come last: they point at the rows of the base-data forms generated first.
        for form in sorted(self.catalog.forms.values(), key=lambda f: bool(f.entities)):
            if self.store.count(form) > 0:
                continue
            if form.entities:
                generator = BillGenerator(self.with_bill_lines(form), self.bill_refs(), self.catalog.use_org_sets,
                                          cfg.seed, end, cfg.dirty_share, cfg.millis_share,
                                          cfg.history_days)
                self.store.load_batches(generator.batches(self.row_count(form)))
                continue
            generator = RowGenerator(form, self.refs, self.catalog.use_org_sets, cfg.seed, end,
                                     cfg.dirty_share, cfg.millis_share, cfg.history_days)
            self.store.load(form, generator.rows(self.row_count(form)))

    def with_bill_lines(self, form: Form) -> Form:
        """The form with `--bill-lines ENTITY=MIN-MAX` in place of its entities' `lines:`."""
        wanted = {k.lower(): v for k, v in self.config.bill_lines.items()}
        return replace(form, entities=tuple(
            replace(e, lines=(*wanted[e.key.lower()], sum(wanted[e.key.lower()]) / 2))
            if e.key.lower() in wanted else e for e in form.entities))

    def bill_refs(self) -> dict[str, list[tuple]]:
        """Reference rows bills may draw from: the ref tables plus every served base-data form."""
        served = {form.form_id: self.store.fetch(f"SELECT {form.key}, {form.number}, {form.key} "
                                                 f"FROM {form.table} ORDER BY {form.key}")
                  for form in self.catalog.forms.values() if not form.entities}
        return {**self.refs, **served}

    def count(self, name: str) -> None:
        with self._counter_lock:
            self.requests[name] += 1

    def form_state(self, form: Form) -> dict:
        """Row counts of one form for GET /_sim/state."""
        fetch, table = self.store.fetch, form.table
        state = {"rows": self.store.count(form), "key": form.key,
                 "change_fields": list(form.change_fields),
                 "by_document_status": dict(fetch(f"SELECT {form.document_status}, count(*) "
                                                  f"FROM {table} GROUP BY 1"))}
        if form.master:
            state["masters"] = self.store.scalar(f"SELECT count(DISTINCT {form.master}) FROM {table}")
        for name, status in (("forbidden", form.forbid_status), ("closed", form.close_status)):
            if status:
                state[name] = self.store.scalar(f"SELECT count(*) FROM {table} WHERE {status} = 'B'")
        if form.entities:
            state["lines"] = {e.key: self.store.scalar(f"SELECT count(*) FROM {e.table}")
                              for e in form.entities}
        return state

    def state(self) -> dict:
        """What GET /_sim/state reports."""
        faults = self.faults.state()
        faults["session_ttl"] = self.auth.session_ttl
        config = {k: v for k, v in asdict(self.config).items() if k not in ("password", "app_secret")}
        forms = {form.form_id: self.form_state(form) for form in self.catalog.forms.values()}
        # Counts also by each form's option name ("customers": 300), and the first shipped form's
        # details at the top, as before there were several forms.
        rows: dict = {form.count_option: forms[form.form_id]["rows"]
                      for form in self.catalog.forms.values() if form.count_option}
        first = next(iter(self.catalog.forms.values()))
        rows.update({k: forms[first.form_id][k] for k in ("masters", "forbidden", "by_document_status")},
                    forms=forms)
        return {
            "now": self.clock.now().isoformat(" ", "seconds"), "frozen": self.clock.frozen,
            "rows": rows, "faults": faults, "requests": dict(self.requests), "sessions": self.auth.session_count(),
            "logins": self.auth.logins, "rows_served": self.queries.rows_served, "config": config,
            "permissions": {"user": self.config.username, "visible_orgs": self.permissions.state()},
        }

    def close(self) -> None:
        self.store.close()


class SimulatorHandle:
    """A running simulator: its URLs, config and app; `stop()` shuts it down."""

    def __init__(self, config: SimulatorConfig) -> None:
        from kd_assets.simulator.activity import Activity
        from kd_assets.simulator.server import make_server

        self.app = SimulatorApp(config)
        self.server = make_server(self.app)
        host, port = self.server.server_address[:2]
        self.config = config.with_overrides(port=port)
        self.app.config = self.config  # state() reports the real port
        self.base_url = f"http://{host}:{port}/k3cloud/"
        self.admin_url = f"http://{host}:{port}/_sim/"
        # A short poll interval makes stop() quick; tests start and stop many simulators.
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                        name="k3cloud-simulator", daemon=True)
        self.activity = Activity(self.app) if config.activity > 0 else None
        self._stopped = False

    def start(self) -> "SimulatorHandle":
        self._thread.start()
        if self.activity:
            self.activity.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread (the CLI); Ctrl-C returns."""
        if self.activity:
            self.activity.start()
        try:
            self.server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Idempotent: fixtures and context managers may both call it."""
        if self._stopped:
            return
        self._stopped = True
        if self.activity:
            self.activity.stop()
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()
        self.app.close()


@contextmanager
def serve_in_thread(config: SimulatorConfig | None = None) -> Iterator[SimulatorHandle]:
    """Run a simulator in a background thread for the duration of the block."""
    handle = SimulatorHandle(config or SimulatorConfig()).start()
    try:
        yield handle
    finally:
        handle.stop()
