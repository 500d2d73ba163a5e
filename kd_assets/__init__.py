"""kd-assets: keep a MySQL customer table in step with Kingdee Cloud Galaxy (K3Cloud)."""
