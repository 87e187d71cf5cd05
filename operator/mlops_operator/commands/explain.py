"""``mlops explain MODEL [VERSION] --input FILE [--prediction-id ID]``: the top features of
each instance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from mlops_operator.operations.errors import InvalidRequestError, UnavailableError
from mlops_operator.operations.explain import explain_call, instances_of, top_features
from mlops_operator.operations.target import Target


def explain(
    target: Target,
    *,
    model: str,
    version: str | None,
    input_file: Path,
    deployment: str | None = None,
    top: int = 5,
    timeout: float = 120.0,
    prediction_id: str | None = None,
) -> str:
    try:
        document = json.loads(input_file.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidRequestError(f"cannot read {input_file} as JSON: {exc}") from exc
    call = explain_call(
        target,
        model=model,
        version=version,
        instances=instances_of(document),
        deployment=deployment,
        prediction_id=prediction_id,
    )
    try:
        answer = httpx.post(call.url, json=call.body, headers=call.headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise UnavailableError(f"{call.url} did not answer: {exc}") from exc
    try:
        body: dict[str, Any] = answer.json()
    except ValueError:
        body = {"error": answer.text[:300]}
    if answer.status_code != 200:
        raise InvalidRequestError(
            f"{call.url} answered {answer.status_code}: {body.get('error', body)}"
        )
    return render(body, top=top)


def render(body: dict[str, Any], *, top: int = 5) -> str:
    lines = [f"{body.get('model')} {body.get('version')} ({body.get('runtime')} runtime)"]
    for index, item in enumerate(body.get("explanations", [])):
        lines.append(
            f"instance {index}: {item['label']}  {item['output']} {item['prediction']:.4f} "
            f"(base {item['baseValue']:.4f})"
        )
        for feature, value in top_features(item, top):
            lines.append(f"  {value:+.4f}  {feature}")
    return "\n".join(lines)
