"""End-to-end tests: dagster-webserver and dagster-daemon as real processes, driven through GraphQL and Chromium."""
