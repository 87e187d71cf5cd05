"""The one reader of the router pods' own ``/metrics`` over HTTP (no Prometheus needed): every
router pod scraped side by side (``adapters.pod_reads``), each answer parsed by
``rollout.measure.parse_router_metrics``.

A Deployment's reconcile scrapes its routers at most once and hands the same answers to the
canary analysis (all pods or none) and to the A/B test's error-rate arms (the pods that
answered); what the numbers mean is decided there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from mlops_operator.adapters.pod_reads import get_bounded, read_all
from mlops_operator.rollout.measure import RouterTotals, parse_router_metrics, sum_totals

#: a router's /metrics is a few KiB; anything far larger is not a router
BODY_MAX: Final = 4 * 1024 * 1024


@dataclass(frozen=True)
class RouterScrape:
    """What each router pod answered (by address), and the pods that did not, with why."""

    answers: dict[str, RouterTotals] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)

    def all_pods(self) -> tuple[RouterTotals | None, str | None]:
        """Per-version totals summed over every router pod, or None and why. All pods or none:
        a canary step judged on some of the routers' counters would be judged on a sample that
        changes with which pods answered."""
        if not self.answers and not self.unreadable:
            return None, "no ready router pod"
        for address, problem in self.unreadable.items():
            return None, f"router {address}: {problem}"
        return sum_totals(self.answers.values()), None

    def answered(self) -> RouterTotals:
        """Per-version totals summed over the pods that answered."""
        return sum_totals(self.answers.values())


def _scrape(address: str, timeout: float, deployment: str | None) -> RouterTotals | str:
    """One router pod's totals (with ``deployment``, a pool router's series of that
    Deployment), or why there are none."""
    try:
        body = get_bounded(f"http://{address}/metrics", timeout=timeout, limit=BODY_MAX)
        return parse_router_metrics(body.decode(), deployment=deployment)
    except ValueError as exc:  # unreachable, HTTP error, too large; MetricsFormatError
        return str(exc)[:256]


def scrape_routers(
    addresses: Sequence[str], *, timeout: float, deployment: str | None = None
) -> RouterScrape:
    """Every router pod's ``/metrics``, read side by side (each within ``timeout``); with
    ``deployment``, pool routers' series of that Deployment."""
    scrape = RouterScrape()
    answers = read_all(addresses, lambda address: _scrape(address, timeout, deployment))
    for address, answer in zip(addresses, answers, strict=True):
        if isinstance(answer, str):
            scrape.unreadable[address] = answer
        else:
            scrape.answers[address] = answer
    return scrape
