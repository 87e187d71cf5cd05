"""Manual control: one-shot ``promote``, ``abort`` and ``retry`` requests (the
``mlops.dev/rollout-request`` annotation), each handled once by its token."""

from __future__ import annotations

from mlops_operator.api.deployment_status import RolloutState
from mlops_operator.rollout.endings import roll_back
from mlops_operator.rollout.plan import Observed, Plan, RolloutAction


def handle_request(o: Observed, state: RolloutState) -> tuple[RolloutAction | None, Plan | None]:
    request = o.request
    if request is None or request.token == state.handled_request:
        return None, None
    state.handled_request = request.token
    if request.action == "retry":
        if state.failed_version is not None:
            state.failed_version = None
            state.failure = None
        return "retry", None
    rolling = state.target is not None and state.target != o.stable
    if request.action == "abort" and rolling:
        return "abort", roll_back(
            o,
            state,
            reason="Aborted",
            message="rollout aborted by request (kubectl mlops rollout abort)",
            phase="Aborted",
        )
    return (request.action if rolling else None), None
