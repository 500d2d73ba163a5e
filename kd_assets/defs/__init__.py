"""The Dagster layer: resources, partitions, assets, checks, sensors, schedules, alerts."""
