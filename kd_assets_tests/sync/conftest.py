"""A TargetStore for the BD_Customer spec on each target (MariaDB and SQLite), or on MariaDB only."""

from __future__ import annotations

import pytest

from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets_tests.sync.rows import SPEC


def _store_on(url: str):
    engine = create_target_engine(url)
    store = TargetStore(engine, SPEC)
    store.ensure_tables()
    yield store
    engine.dispose()


@pytest.fixture
def store(target_url):
    yield from _store_on(target_url)


@pytest.fixture
def mysql_store(mysql_url):
    """For what only MySQL/MariaDB does: the two-connection publish (rangepublish.py)."""
    yield from _store_on(mysql_url)
