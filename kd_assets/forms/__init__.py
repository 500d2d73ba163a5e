"""The forms this package syncs: one folder per form holding its ``defs.yaml`` (a KingdeeFormSync)."""
