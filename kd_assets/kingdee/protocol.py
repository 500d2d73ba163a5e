"""Published K3Cloud WebAPI constants (service paths, MsgCodes, cookie and header names).

These constants are the only code the simulator shares with the client: both sides implement
request signing on their own and are tested against ../shared/kingdee/signature_vectors.json,
so a signing bug cannot hide on both sides at once. See ../shared/kingdee/PROTOCOL.md.
"""

from __future__ import annotations

SERVICE_SUFFIX = ".common.kdsvc"

_AUTH = "Kingdee.BOS.WebApi.ServicesStub.AuthService."
_FORM = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService."

VALIDATE_USER = _AUTH + "ValidateUser"
LOGIN_BY_APP_SECRET = _AUTH + "LoginByAppSecret"
LOGIN_BY_SIGN = _AUTH + "LoginBySign"
LOGIN_BY_SIMPLE_PASSPORT = _AUTH + "LoginBySimplePassport"
LOGOUT = _AUTH + "Logout"

EXECUTE_BILL_QUERY = _FORM + "ExecuteBillQuery"
BILL_QUERY = _FORM + "BillQuery"
QUERY_BUSINESS_INFO = _FORM + "QueryBusinessInfo"
SAVE = _FORM + "Save"
DELETE = _FORM + "Delete"
AUDIT = _FORM + "Audit"
UNAUDIT = _FORM + "UnAudit"
EXCUTE_OPERATION = _FORM + "ExcuteOperation"  # sic: Kingdee's spelling
GET_DATA_CENTER_LIST = "Kingdee.BOS.ServiceFacade.ServicesStub.Account.AccountService.GetDataCenterList"

# Cookies and headers that carry the session id.
SESSION_COOKIE = "kdservice-sessionid"
ASPNET_SESSION_COOKIE = "ASP.NET_SessionId"
SESSION_HEADER = "kdservice-sessionid"

# Body prefix of unhandled server exceptions (HTTP 200, plain text).
RESPONSE_ERROR_PREFIX = "response_error:"

# LoginResultType values (ENUM in PROTOCOL.md §1.3).
LOGIN_SUCCESS = 1
LOGIN_PW_ERROR = 0
LOGIN_FAILURE = -1
LOGIN_DEAL_WITH_FORM = -5  # admin logins; treated as success by Kingdee's own clients

# MsgCode values seen in error envelopes (PROTOCOL.md §4).
MSG_SESSION_LOST = 1
MSG_BAD_FORM_OR_FILTER = 4
MSG_EMPTY_PARAMETER = 8
MSG_UNKNOWN_FIELD = 9

SESSION_LOST_MESSAGE = "会话信息已丢失，请重新登录"
BAD_SIGNATURE_MESSAGE_CODE = "002005000003016"
UNKNOWN_ACCT_TEXT = "Fail to verify thirty passport"

DEFAULT_LCID = 2052
