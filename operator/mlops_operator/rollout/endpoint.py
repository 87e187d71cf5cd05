"""When a stable endpoint may be called Ready: the one rule for every Deployment whatever its
strategy (direct, canary, A/B) and for anything else served behind a router Service.

``Ready=True`` is what ``kubectl wait``, Argo CD's Healthy and Flux's Current read as "send now",
so it must not be written before a request sent at once succeeds. Between "the versions' servers
are ready" and "the Service answers" lie three steps that each take their time, and each is
checked, cheapest first:

1. the router Deployment has rolled out: its current generation observed, every wanted replica
   updated and ready;
2. the Service's EndpointSlices list that many ready router endpoints (what the Service proxy,
   kube-proxy or the devcluster's, routes by);
3. the endpoint was seen answering: the router's ``/readyz`` through the Service's own address
   said 200 on every try (one try per router pod), so the proxy routes and a router has the
   backends of the version it serves.

Invariant: ``endpoint_problem`` returns None only when all three hold; step 3 is asked for only
when 1 and 2 hold (it is a network call).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from mlops_operator.rollout.plan import POLL_SECONDS, Plan

#: the reason of ``Ready=False`` while the servers are ready but the endpoint is not yet
ENDPOINT_NOT_READY: Final = "EndpointNotReady"


@dataclass(frozen=True)
class RouterRollout:
    """The router Deployment as observed (``wanted`` is None when it does not exist yet)."""

    wanted: int | None
    ready: int
    updated: int
    current_generation_observed: bool


@dataclass(frozen=True)
class EndpointObserved:
    """What decides whether a Service in front of a router Deployment answers."""

    service: str
    router: RouterRollout
    #: ready (not terminating) endpoints of the Service in its EndpointSlices
    listed: int
    #: None: not asked (steps 1 and 2 did not hold, or probing is off); "": answered every
    #: try; otherwise what the failing try got
    probe: str | None


def routing_problem(router: RouterRollout, listed: int) -> str | None:
    """Steps 1 and 2: why the Service cannot route to every router pod yet, or None."""
    if router.wanted is None:
        return "the router Deployment does not exist yet"
    if not router.current_generation_observed or router.updated < router.wanted:
        return f"the router Deployment is rolling out ({router.updated}/{router.wanted} updated)"
    if router.ready < router.wanted:
        return f"{router.ready}/{router.wanted} router pods ready"
    if listed < router.wanted:
        return f"the Service lists {listed}/{router.wanted} ready router endpoints"
    return None


def endpoint_problem(observed: EndpointObserved, *, probing: bool) -> str | None:
    """Why the stable endpoint cannot be called Ready yet, or None when it can."""
    problem = routing_problem(observed.router, observed.listed)
    if problem is not None:
        return f"{problem}: Service {observed.service} does not answer yet"
    if not probing:
        return None
    if observed.probe is None:
        return f"Service {observed.service} not asked yet"
    if observed.probe:
        return f"Service {observed.service} did not answer: {observed.probe}"
    return None


def gate_ready(plan: Plan, problem: str | None) -> Plan:
    """The plan, with a ``Ready`` it reports held back (``Progressing``, reason
    ``EndpointNotReady``, looked at again shortly) while the endpoint has a problem. Only what
    is reported changes: the weights, the phase and the events are the rollout's own."""
    if plan.condition != "Ready" or problem is None:
        return plan
    after = POLL_SECONDS if plan.requeue_after is None else min(plan.requeue_after, POLL_SECONDS)
    return replace(
        plan,
        condition="Progressing",
        reason=ENDPOINT_NOT_READY,
        message=f"{plan.message}; waiting for the stable endpoint: {problem}",
        requeue_after=after,
    )
