"""The simulator's clock as the randomized end-to-end tests drive it: frozen, and moved only by
the test, so a seed replays the same stamps."""

from __future__ import annotations

import datetime as dt

import requests


class SourceClock:
    """The simulator's clock, frozen and moved by the test (one per simulator, shared by its forms)."""

    def __init__(self, sim):
        self.sim = sim
        self.now = self._clock({"frozen": True, "now": sim.config.clock_start})

    def _clock(self, body: dict) -> dt.datetime:
        reply = requests.post(self.sim.admin_url + "clock", json=body, timeout=10)
        reply.raise_for_status()
        return dt.datetime.fromisoformat(reply.json()["now"])

    def advance(self, seconds: float) -> dt.datetime:
        """Move the frozen source clock (back when negative); the new source-local now (whole seconds)."""
        self.now = self._clock({"advance_seconds": seconds})
        return self.now
