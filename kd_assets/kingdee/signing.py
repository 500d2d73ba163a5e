"""Client-side request signing for K3Cloud's "API auth v2" signed headers (PROTOCOL.md §2).

Byte-for-byte what Kingdee's official Python SDK (``WebApiClient.BuildHeader``) sends, so a server
that accepts the SDK accepts us. Checked against ../shared/kingdee/signature_vectors.json; the
simulator verifies signatures with its own code, so a bug here cannot hide on both sides.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import quote

# The SDK derives this XOR key at run time from an obfuscated string (drop every 9th
# character, ROT13); PROTOCOL.md §2 records the result, and GOKD/YIKD hard-code it too.
_XOR_KEY = b"0054f397c6234378b09ca7d3e5debce7"

SIGNED_HEADERS = "x-api-timestamp,x-api-nonce"


@dataclass(frozen=True, repr=False)
class SigningIdentity:
    """Who signs: the integration app and the Kingdee user it acts for."""

    acct_id: str
    username: str
    app_id: str
    app_secret: str
    lcid: int = 2052
    org_num: int = 0

    def __repr__(self) -> str:  # never show the secret
        return f"SigningIdentity(acct_id={self.acct_id!r}, username={self.username!r}, app_id=***)"


def kd_hmac(message: str, key: str) -> str:
    """Kingdee's HMAC: base64 of the *hex text* of HMAC-SHA256 (not of the raw digest)."""
    hex_digest = hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()
    return base64.b64encode(hex_digest.encode("ascii")).decode("ascii")


def decode_app_secret(encoded: str) -> str:
    """The client secret hidden in the part of the AppId after ``_`` ('' unless 32 chars, as the SDK)."""
    if len(encoded) != 32:
        return ""
    raw = base64.b64decode(encoded)
    return base64.b64encode(bytes(b ^ k for b, k in zip(raw, _XOR_KEY))).decode("ascii")


def signed_path(url: str) -> str:
    """The URL path as the SDK signs it: from the first '/' after index 10, '/' encoded too."""
    path = url
    if url.startswith("http"):
        index = url.find("/", 10)
        if index > -1:
            path = url[index:]
    return quote(path, encoding="utf-8").replace("/", "%2F")


def app_data(identity: SigningIdentity) -> str:
    return f"{identity.acct_id},{identity.username},{identity.lcid},{identity.org_num}"


def signature_headers(url: str, identity: SigningIdentity, timestamp: int) -> dict[str, str]:
    """The X-Api-* and X-Kd-* headers for one POST to ``url`` at Unix time ``timestamp``."""
    ts = str(int(timestamp))
    nonce = ts  # the SDK uses the timestamp as nonce; servers accept repeats (PROTOCOL.md §2)
    client_id, client_secret = "", ""
    parts = identity.app_id.split("_")
    if len(parts) == 2:
        client_id, client_secret = parts[0], decode_app_secret(parts[1])
    api_sign = f"POST\n{signed_path(url)}\n\nx-api-nonce:{nonce}\nx-api-timestamp:{ts}\n"
    data = app_data(identity)
    return {
        "X-Api-ClientID": client_id,
        "X-Api-Auth-Version": "2.0",
        "x-api-timestamp": ts,
        "x-api-nonce": nonce,
        "x-api-signheaders": SIGNED_HEADERS,
        "X-Api-Signature": kd_hmac(api_sign, client_secret),
        "X-Kd-Appkey": identity.app_id,
        "X-Kd-Appdata": base64.b64encode(data.encode("utf-8")).decode("ascii"),
        "X-Kd-Signature": kd_hmac(identity.app_id + data, identity.app_secret),
    }
