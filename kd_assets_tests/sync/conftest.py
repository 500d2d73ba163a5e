"""A TargetStore for the BD_Customer spec on each target (MariaDB and SQLite)."""

from __future__ import annotations

import pytest

from kd_assets.sync.store import TargetStore, create_target_engine
from kd_assets_tests.sync.rows import SPEC


@pytest.fixture
def store(target_url):
    engine = create_target_engine(target_url)
    store = TargetStore(engine, SPEC)
    store.ensure_tables()
    yield store
    engine.dispose()
