"""Speaks the Kingdee K3Cloud WebAPI. No Dagster imports here.

Public API: :class:`K3CloudClient` configured by :class:`ClientConfig`; :class:`Window` for
change-time windows; typed errors in :mod:`.errors`; FilterString helpers in :mod:`.filters`.
"""

from .client import K3CloudClient
from .config import AuthMode, ClientConfig
from .errors import (
    ApiError, AuthError, KingdeeError, MalformedResponseError, OperationError, QueryError,
    RetriesExhaustedError, ServerError, SessionLostError, ThrottledError, TransientError,
)
from .filters import FilterError, Window
from .retry import RetryPolicy
from .stats import ClientStats

__all__ = [
    "ApiError", "AuthError", "AuthMode", "ClientConfig", "ClientStats", "FilterError", "K3CloudClient",
    "KingdeeError", "MalformedResponseError", "OperationError", "QueryError", "RetriesExhaustedError",
    "RetryPolicy", "ServerError", "SessionLostError", "ThrottledError", "TransientError", "Window",
]
