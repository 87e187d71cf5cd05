"""Reads a pool server's own ``/metrics`` (no Prometheus needed): versions and bytes in memory,
loads and evictions since it started. Parsed by prometheus_client's own text parser."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True, kw_only=True)
class ServerFigures:
    loaded: int
    memory_used_bytes: int
    loads_total: float
    evictions_total: float


def parse_server_metrics(text: str) -> ServerFigures:
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            sums[sample.name] = sums.get(sample.name, 0.0) + float(sample.value)
    return ServerFigures(
        loaded=int(sums.get("ml_models_loaded", 0.0)),
        memory_used_bytes=int(sums.get("ml_model_memory_usage_bytes", 0.0)),
        loads_total=sums.get("ml_model_load_seconds_count", 0.0),
        evictions_total=sums.get("ml_model_evictions_total", 0.0),
    )


def read_server_figures(address: str, *, timeout: float) -> ServerFigures | None:
    """The server's figures, or None when it cannot be read now (it is then reported as 0)."""
    try:
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=timeout) as response:
            return parse_server_metrics(response.read().decode())
    except (OSError, ValueError):
        return None
