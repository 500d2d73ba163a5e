"""Every guarantee of the lines layout, held by a header table plus a lines table: the lines
layout's own tests, run against the split store (they read the target back through
``read_target``, which joins a split bill into the lines layout's shape)."""

from __future__ import annotations

import pytest

from .split import split_store
from .test_bill_lines import (  # noqa: F401 (collected here with the split store)
    test_a_first_sync_publishes_every_line_and_bills_straddling_chunks,
    test_an_older_run_cannot_resurrect_a_removed_line_nor_remove_the_newer_lines,
    test_line_add_edit_and_remove_reach_the_target_and_removed_lines_are_soft_deleted,
    test_rejected_lines_name_their_bill_number_in_every_reason,
)
from .test_bill_random import test_random_bill_workloads_end_with_the_target_lines_equal_to_the_source  # noqa: F401
from .test_bill_reconcile import (  # noqa: F401
    test_a_bill_deleted_at_the_source_is_soft_deleted_by_reconciliation,
    test_a_content_slice_of_a_bill_spec_asks_kingdee_for_whole_bills,
    test_a_line_removed_by_an_edit_no_sync_saw_is_soft_deleted_and_a_missing_bill_healed,
    test_content_verification_catches_a_write_back_that_moved_no_change_time,
)

# Not here: the lines layout's header row (entry 0) and its header-column edits have their split
# counterparts in test_bill_headers.py.


@pytest.fixture
def lines_store(target_url):
    store = split_store(target_url)
    yield store
    store.engine.dispose()
