"""The sale-order spec with ``layout: header_and_lines``, and its store, for the split-bill tests."""

from __future__ import annotations

import yaml

from kd_assets.sync.spec import SPECS_DIR, parse_spec
from kd_assets.sync.store import TargetStore, create_target_engine


def split_spec(**tables):
    """sal_saleorder.yaml with a header table beside the lines table (``tables`` names them)."""
    doc = yaml.safe_load((SPECS_DIR / "sal_saleorder.yaml").read_text(encoding="utf-8"))
    doc["bill"]["layout"] = "header_and_lines"
    doc["tables"].update(tables)
    return parse_spec(doc, SPECS_DIR / "sal_saleorder.yaml", name="sal_saleorder")


SPLIT = split_spec()


def split_store(url: str):
    store = TargetStore(create_target_engine(url), SPLIT)
    store.ensure_tables()
    return store
