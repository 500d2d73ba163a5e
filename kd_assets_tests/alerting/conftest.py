"""Until the lead lists kd_assets_tests.fixtures.webhook in the root conftest's pytest_plugins."""

from kd_assets_tests.fixtures.webhook import webhook_receiver  # noqa: F401
