"""Asks a Service whether it answers: ``GET /readyz`` through the Service's own address (its
ClusterIP), so the answer comes through the same proxy a client's request goes through. What
the answer means is decided in ``rollout.endpoint``."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Final

#: how long one try may take: the routers answer ``/readyz`` from memory
PROBE_TIMEOUT_SECONDS: Final = 2.0


def probe_endpoint(address: str, *, tries: int, timeout: float = PROBE_TIMEOUT_SECONDS) -> str:
    """The empty string when ``http://<address>/readyz`` said 200 on each of ``tries`` new
    connections (a Service spreads connections over its endpoints), else what the first
    failing try got."""
    for _ in range(max(1, tries)):
        try:
            with urllib.request.urlopen(f"http://{address}/readyz", timeout=timeout) as answer:
                answer.read()
        except urllib.error.HTTPError as exc:
            return f"/readyz answered {exc.code}: {exc.read()[:200].decode(errors='replace')}"
        except OSError as exc:
            return f"/readyz: {exc}"
    return ""
