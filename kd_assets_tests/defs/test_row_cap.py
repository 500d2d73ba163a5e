"""A server row cap below the page size (issue 10.2): reconciliation over HTTP into a real target.

Kingdee caps rows per call at WebAPIMaxQueryLimit (2000 on older servers, 10000 from patch 23.11,
or what the ERP admin set) and silently returns fewer above it. A scan that ended on that first
short page saw a fraction of the keys, and reconciliation took the rest for deleted.
"""

from __future__ import annotations

from kd_assets_tests.defs.forms import RECONCILIATION
from kd_assets_tests.defs.reconcile_harness import check_evaluation, fast_resources, run_reconcile, values
from kd_assets_tests.defs.sync_harness import materialization, sync, table_keys
from kd_assets_tests.sync.reconcile_scenario import CLOCK, SPEC


def test_reconciliation_under_a_server_cap_below_the_page_size_deletes_nothing(simulator_factory, target_url):
    sim = simulator_factory(customers=300, seed=7, clock_start=CLOCK, dirty_share=0.0, max_limit=40)
    res = fast_resources(sim, target_url)  # the client's page size stays 2000, far above the cap
    assert sync(res, first="2024-01-01", last="2024-02-28").success
    assert run_reconcile(res).success  # brings the rows last changed before the first partition

    result = run_reconcile(res)

    assert result.success
    evaluation = check_evaluation(result)
    meta = values(evaluation.metadata)
    assert evaluation.passed and meta["deleted_at_source"] == 0 and meta["soft_deleted"] == 0
    reconciled = materialization(result, RECONCILIATION)
    assert reconciled["source_rows"] == 300
    assert reconciled["kingdee_server_row_cap_observed"] == 40
    assert len(table_keys(target_url, SPEC.tables.target, "is_deleted = 0")) == 300
