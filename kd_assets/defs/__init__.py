"""The Dagster layer: resources, partitions, assets, checks, sensors, schedules and alerts.

We knowingly use two non-GA features — single-run backfills (`BackfillPolicy`, beta) and
partitioned asset checks (preview in 1.13) — so their warnings are silenced here, once.
"""

import warnings

import dagster as dg

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
