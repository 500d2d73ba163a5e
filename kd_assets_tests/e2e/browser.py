"""Headless Chromium (Debian's ``chromium``) rendering a page of the Dagster UI.

Started with the flags this closed network needs: without the background-networking ones,
Chromium's own connections to Google are refused many at a time and slow every start. Each call
gets a fresh, empty profile. ``--virtual-time-budget`` lets the single-page app fetch its GraphQL
data and lay out the graph before the DOM is dumped or the screenshot taken.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

CHROMIUM = "/usr/bin/chromium"
CLOSED_NETWORK_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
)
WINDOW = "1400,900"


@dataclass(frozen=True)
class Render:
    """What Chromium saw: the DOM after scripts ran, and a PNG screenshot."""

    dom: str
    screenshot: Path


def chromium() -> str:
    if not Path(CHROMIUM).exists():
        raise AssertionError(f"{CHROMIUM} is missing: run scripts/ensure-chromium.sh (Debian's chromium package)")
    return CHROMIUM


def _run(args: list[str], timeout_s: float, log: Path | None) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="kd-chromium-") as profile:
        command = [chromium(), *CLOSED_NETWORK_FLAGS, f"--user-data-dir={profile}", f"--window-size={WINDOW}", *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                                stdin=subprocess.DEVNULL)
    if log is not None:
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"$ {' '.join(command)}\n--- exit {result.returncode}; stderr:\n{result.stderr}\n")
    if result.returncode != 0:
        raise AssertionError(f"chromium exited with {result.returncode}: {result.stderr[-3000:]}")
    return result


def render(url: str, screenshot: Path, *, virtual_time_ms: int = 20_000, timeout_s: float = 90,
           log: Path | None = None) -> Render:
    """Load ``url`` twice in fresh profiles: once dumping the rendered DOM, once to a PNG."""
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    budget = f"--virtual-time-budget={virtual_time_ms}"
    dom = _run([budget, "--dump-dom", url], timeout_s, log).stdout
    _run([budget, f"--screenshot={screenshot}", url], timeout_s, log)
    if not screenshot.exists() or screenshot.stat().st_size == 0:
        raise AssertionError(f"chromium wrote no screenshot to {screenshot}")
    return Render(dom=dom, screenshot=screenshot)


class _AssetGraphParser(HTMLParser):
    """Collects the names on the asset graph's nodes and the run links on them.

    A node's title is an element with a CSS-module class ``AssetNode_assetName__<hash>`` holding
    the full key in ``data-tooltip``; the sidebar and search lists don't use that class, so a
    name found here was drawn on the graph.
    """

    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[str] = []
        self.run_links: list[tuple[str, str]] = []  # (run id, selected asset)
        self._in_title = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        classes = attr.get("class", "").split()
        if self._in_title:
            self._in_title += 1
            if "data-tooltip" in attr:
                self.nodes.append(attr["data-tooltip"])
        elif any(c.startswith("AssetNode_assetName") for c in classes):
            self._in_title = 1
        href = attr.get("href", "")
        if tag == "a" and href.startswith("/runs/"):
            url = urlsplit(href)
            selection = parse_qs(url.query).get("selection", [""])[0]
            self.run_links.append((url.path.removeprefix("/runs/"), selection))

    def handle_endtag(self, tag: str) -> None:
        if self._in_title:
            self._in_title -= 1


def asset_graph_nodes(dom: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Names drawn as asset-graph nodes, and (run id, asset) of the run links on the page."""
    parser = _AssetGraphParser()
    parser.feed(dom)
    return parser.nodes, parser.run_links
