"""Payload builders: one alert rendered for DingTalk, WeCom, Feishu, Slack or plain JSON.

Labels are bilingual (中文 English) because the people who read these alerts sit on both
sides of a Kingdee deployment. Every format shows the same facts: kind, severity, the
details (job/asset, partition, ...), the message, the links and the time.
"""

from __future__ import annotations

from collections.abc import Callable

from kd_assets.alerting.alert import Alert

SOURCE = "kd-assets"
# Long failure messages are cut: WeCom rejects markdown over 4096 bytes, Slack sections over
# 3000 characters; the full text is in the Dagster run the link points to.
MAX_SUMMARY_CHARS = 1000
WECOM_MAX_BYTES = 4096
SLACK_MAX_HEADER = 150
SLACK_MAX_FIELDS = 10

KIND_LABELS = {
    "run_failure": "运行失败 Run failure",
    "check_failure": "检查失败 Check failed",
    "freshness": "数据过期 Stale data",
    "recovery": "已恢复 Recovered",
}
SEVERITY_LABELS = {"error": "错误 ERROR", "warning": "警告 WARNING", "info": "信息 INFO"}
DETAIL_LABELS = {
    "job": "作业 Job",
    "asset": "资产 Asset",
    "check": "检查 Check",
    "partition": "分区 Partition",
    "run_id": "运行 Run",
    "since": "开始 Since",
}
_ICONS = {"error": "🔴", "warning": "🟠", "info": "🔵"}
# Feishu header templates; a recovery is green whatever its severity.
_FEISHU_COLORS = {"error": "red", "warning": "orange", "info": "blue"}
_WECOM_COLORS = {"error": "warning", "warning": "comment", "info": "info"}


def _icon(alert: Alert) -> str:
    return "✅" if alert.kind == "recovery" else _ICONS[alert.severity]


def _summary(alert: Alert) -> str:
    text = alert.summary.strip()
    return text if len(text) <= MAX_SUMMARY_CHARS else text[: MAX_SUMMARY_CHARS - 1] + "…"


def fields(alert: Alert) -> list[tuple[str, str]]:
    """(label, value) pairs shown by every format, in a stable order."""
    rows = [("类型 Kind", KIND_LABELS[alert.kind]), ("级别 Severity", SEVERITY_LABELS[alert.severity])]
    rows += [(DETAIL_LABELS.get(key, key), str(value)) for key, value in alert.details.items()]
    rows.append(("时间 Time", alert.occurred_at.isoformat(timespec="seconds")))
    return rows


def plain_text(alert: Alert) -> str:
    """The alert as plain text: the log line when no webhook is configured, Slack's fallback."""
    lines = [f"{_icon(alert)} {alert.title}", _summary(alert)]
    lines += [f"{label}: {value}" for label, value in fields(alert)]
    lines += [f"{name}: {url}" for name, url in alert.links.items()]
    lines.append(f"incident: {alert.incident_key}")
    return "\n".join(lines)


def _markdown_lines(alert: Alert, title: str | None = None) -> list[str]:
    lines = [f"### {title or _icon(alert) + ' ' + alert.title}", f"> {_summary(alert)}"]
    lines += [f"**{label}**: {value}" for label, value in fields(alert)]
    lines += [f"[{name}]({url})" for name, url in alert.links.items()]
    lines.append(f"{SOURCE} · {alert.incident_key}")
    return lines


def render_dingtalk(alert: Alert) -> dict:
    # DingTalk markdown drops single newlines; a blank line separates every line.
    text = "\n\n".join(_markdown_lines(alert))
    return {"msgtype": "markdown", "markdown": {"title": f"{_icon(alert)} {alert.title}", "text": text}}


def render_wecom(alert: Alert) -> dict:
    color = "info" if alert.kind == "recovery" else _WECOM_COLORS[alert.severity]
    title = f'<font color="{color}">{_icon(alert)} {alert.title}</font>'
    content = "\n".join(_markdown_lines(alert, title))
    return {"msgtype": "markdown", "markdown": {"content": _cut_bytes(content, WECOM_MAX_BYTES)}}


def _cut_bytes(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - len("…".encode())].decode(errors="ignore") + "…"


def render_feishu(alert: Alert) -> dict:
    color = "green" if alert.kind == "recovery" else _FEISHU_COLORS[alert.severity]
    elements: list[dict] = [
        {"tag": "div", "text": {"tag": "lark_md", "content": _summary(alert)}},
        {"tag": "div", "fields": [
            {"is_short": True, "text": {"tag": "lark_md", "content": f"**{label}**\n{value}"}}
            for label, value in fields(alert)
        ]},
    ]
    if alert.links:
        elements.append({"tag": "action", "actions": [
            {"tag": "button", "type": "primary", "url": url, "text": {"tag": "plain_text", "content": name}}
            for name, url in alert.links.items()
        ]})
    elements.append({"tag": "note", "elements": [
        {"tag": "plain_text", "content": f"{SOURCE} · {alert.incident_key}"},
    ]})
    header = {"template": color, "title": {"tag": "plain_text", "content": f"{_icon(alert)} {alert.title}"}}
    card = {"config": {"wide_screen_mode": True}, "header": header, "elements": elements}
    return {"msg_type": "interactive", "card": card}


def _slack_escape(text: str) -> str:
    # Slack mrkdwn treats &, < and > as control characters (links, mentions).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_slack(alert: Alert) -> dict:
    header = f"{_icon(alert)} {alert.title}"
    if len(header) > SLACK_MAX_HEADER:
        header = header[: SLACK_MAX_HEADER - 1] + "…"
    field_blocks = [
        {"type": "mrkdwn", "text": f"*{label}*\n{_slack_escape(value)}"} for label, value in fields(alert)
    ]
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape(_summary(alert))}},
    ]
    # Slack allows at most ten fields per section.
    for start in range(0, len(field_blocks), SLACK_MAX_FIELDS):
        blocks.append({"type": "section", "fields": field_blocks[start : start + SLACK_MAX_FIELDS]})
    if alert.links:
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": name}, "url": url}
            for name, url in alert.links.items()
        ]})
    blocks.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": _slack_escape(f"{SOURCE} · {alert.incident_key}")},
    ]})
    return {"text": plain_text(alert), "blocks": blocks}


def render_json(alert: Alert) -> dict:
    return alert.to_dict()


RENDERERS: dict[str, Callable[[Alert], dict]] = {
    "dingtalk": render_dingtalk,
    "wecom": render_wecom,
    "feishu": render_feishu,
    "slack": render_slack,
    "json": render_json,
}


def render(alert: Alert, fmt: str) -> dict:
    """The webhook body for ``alert`` in format ``fmt`` (one of ``settings.FORMATS``)."""
    try:
        renderer = RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"unknown alert format {fmt!r}; expected one of {', '.join(RENDERERS)}") from None
    return renderer(alert)
