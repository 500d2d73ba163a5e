"""Speaks the Kingdee K3Cloud WebAPI. No Dagster imports here."""
