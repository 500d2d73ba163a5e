"""Signed headers match the known answers computed with Kingdee's official SDK."""

import json
from pathlib import Path

import pytest

from kd_assets.kingdee.signing import SigningIdentity, decode_app_secret, signature_headers

# Known answers computed with Kingdee's official SDK (copied from ../shared/kingdee/).
VECTORS = Path(__file__).resolve().parents[1] / "data" / "signature_vectors.json"


def _vectors():
    return json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"]


@pytest.mark.parametrize("vector", _vectors(), ids=lambda v: v["inputs"]["app_id"])
def test_signature_headers_match_official_sdk(vector):
    given = vector["inputs"]
    identity = SigningIdentity(
        acct_id=given["acct_id"], username=given["user_name"], app_id=given["app_id"],
        app_secret=given["app_secret"], lcid=given["lcid"], org_num=given["org_num"],
    )
    assert signature_headers(vector["request_url"], identity, given["ts"]) == vector["expected_headers"]


def test_protocol_md_vector_client_secret():
    assert decode_app_secret("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef") == "MCC2JDe0GaXoBuG8dSekaTenWPX6RrOs"


def test_app_secret_of_wrong_length_decodes_to_empty_like_the_sdk():
    assert decode_app_secret("short") == ""


def test_identity_repr_hides_the_secret():
    identity = SigningIdentity("acct", "user", "1_x", "topsecret")
    assert "topsecret" not in repr(identity)
