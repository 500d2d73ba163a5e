"""Shared fixtures live in kd_assets_tests/fixtures/, one module per concern."""

import os

# The fixtures' simulated histories are built around clocks in 2024–2025; pin the first partition
# there instead of the shipped default, which is a recent fixed day.
os.environ.setdefault("KD_SYNC_START", "2024-01-01")

pytest_plugins = [
    "kd_assets_tests.fixtures.dagster_instance",
    "kd_assets_tests.fixtures.database",
    "kd_assets_tests.fixtures.simulator",
    "kd_assets_tests.fixtures.webhook",
]
