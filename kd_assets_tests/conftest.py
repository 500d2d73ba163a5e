"""Shared fixtures live in kd_assets_tests/fixtures/, one module per concern."""

pytest_plugins = [
    "kd_assets_tests.fixtures.dagster_instance",
    "kd_assets_tests.fixtures.database",
    "kd_assets_tests.fixtures.simulator",
    "kd_assets_tests.fixtures.webhook",
]
