"""kd-assets: keep MySQL tables in step with Kingdee Cloud Galaxy (K3Cloud) forms.

``kd_assets.KingdeeFormSync`` is the Dagster component (one form per ``defs.yaml``). It is
imported on first use, so the simulator and the client start without loading Dagster.
"""


def __getattr__(name: str):
    if name == "KingdeeFormSync":
        from kd_assets.defs.component import KingdeeFormSync

        return KingdeeFormSync
    raise AttributeError(f"module 'kd_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return ["KingdeeFormSync"]
