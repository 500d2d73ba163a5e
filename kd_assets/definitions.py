"""The one Definitions object of the code location (workspace.yaml points here)."""

import dagster as dg

defs = dg.Definitions()
