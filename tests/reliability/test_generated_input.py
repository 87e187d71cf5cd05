"""Generated bad input against the model server and the router in front of it.

schemathesis draws requests from the server's own OpenAPI document (valid and invalid ones);
the cases it would not make — non-finite numbers, huge and chunked bodies, wrong or missing
content types — are added by hand for every inference path. Held to: no answer ≥ 500, every
answer body valid JSON (no NaN or Infinity), and 413 for a body over the limit on every path.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from reliability_support import Figures, Scale
from schemathesis import GenerationMode
from serving_support import ServerProcess, records, run_router, run_server

pytestmark = pytest.mark.reliability

MAX_BYTES = 65536
RECORD = records(1, seed=3)[0]
PASSED_PREFIXES = ("/v1/", "/v2/", "/mlops/")
INFERENCE_PATHS = (
    "/v1/models/fraud:predict",
    "/v1/models/fraud/versions/1.1.0:predict",
    "/v2/models/fraud/infer",
    "/v2/models/fraud/versions/1.1.0/infer",
    "/mlops/predict",
)


@pytest.fixture(scope="module")
def server(
    fraud_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    logs = tmp_path_factory.mktemp("logs")
    with run_server(
        fraud_repository,
        host="127.0.0.51",
        log_dir=logs,
        PRELOAD_MODELS="fraud",
        MAX_REQUEST_BYTES=str(MAX_BYTES),
    ) as process:
        yield process


@pytest.fixture(scope="module")
def router(
    server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    config = {
        "model": "fraud",
        "backends": [
            {"version": "1.1.0", "weight": 100, "endpoints": [f"{server.host}:{server.port}"]}
        ],
    }
    with run_router(config, host="127.0.0.52", log_dir=tmp_path_factory.mktemp("router")) as r:
        yield r


@dataclass
class Findings:
    """What the generated requests got back."""

    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    invalid_json: list[str] = field(default_factory=list)

    def send(self, what: str, client: httpx.Client, path: str, **request: Any) -> Any:
        """The answer to ``POST path``, checked; a connection dropped without one counts as
        a server error."""
        try:
            response = client.post(path, **request)
        except httpx.TransportError as exc:
            self.sent += 1
            self.statuses[0] += 1
            self.server_errors.append(f"{what} → no answer ({type(exc).__name__}: {exc})")
            return None
        self.check(what, response)
        return response

    def check(self, what: str, response: httpx.Response | Any) -> None:
        self.sent += 1
        status = response.status_code
        self.statuses[status] += 1
        text = response.text if hasattr(response, "text") else ""
        if status >= 500:
            self.server_errors.append(f"{what} → {status} {text[:200]}")
        if not strict_json(text):
            self.invalid_json.append(f"{what} → {status} {text[:200]}")


def strict_json(text: str) -> bool:
    """Whether ``text`` is JSON as RFC 8259 has it (Python's parser also takes NaN)."""

    def refuse(constant: str) -> Any:
        raise ValueError(constant)

    try:
        json.loads(text, parse_constant=refuse)
    except ValueError:
        return False
    return True


def _schemathesis(url: str, spec: dict[str, Any], scale: Scale) -> Findings:
    schema = schemathesis.openapi.from_dict(spec)
    findings = Findings()
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith(PASSED_PREFIXES):
            continue  # the router passes only these; the server's others are health checks
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _generate(operation, mode, url=url, findings=findings, cases=scale.generated_cases)
            except Unsatisfiable:  # e.g. no invalid request exists for an operation
                continue
    return findings


def _generate(
    operation: Any, mode: GenerationMode, *, url: str, findings: Findings, cases: int
) -> None:
    @settings(
        max_examples=cases,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def send(case: Any) -> None:
        response = case.call(base_url=url, timeout=30)
        findings.check(f"{case.method} {case.formatted_path} {mode.value}", response)

    send()


def _by_hand(url: str) -> Findings:
    """The cases a schema does not describe, on every inference path."""
    findings = Findings()
    json_type = {"content-type": "application/json"}
    finite = json.dumps({"instances": [RECORD]}).encode()
    values = ("Infinity", "-Infinity", "NaN", "1e308", "-1e309")
    huge = json.dumps({"instances": [RECORD] * (2 * MAX_BYTES // 60)}).encode()
    with httpx.Client(base_url=url, timeout=30) as client:
        for path in INFERENCE_PATHS:
            for value in values:
                text = _body_for(path, amount=value)
                findings.send(
                    f"{path} amount={value}", client, path, content=text, headers=json_type
                )
            for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
                headers = {"content-type": content_type} if content_type else {}
                what = f"{path} content-type {content_type}"
                findings.send(what, client, path, content=finite, headers=headers)
            for chunked in (False, True):
                pieces = iter([huge[i : i + 8192] for i in range(0, len(huge), 8192)])
                what = f"{path} {len(huge)} bytes {'chunked' if chunked else 'sized'}"
                body: Any = pieces if chunked else huge
                answer = findings.send(what, client, path, content=body, headers=json_type)
                if answer is not None and answer.status_code != 413:
                    findings.server_errors.append(f"{what} → {answer.status_code}, not 413")
            findings.send(f"{path} truncated JSON", client, path, content=b"{", headers=json_type)
    return findings


def _body_for(path: str, *, amount: str) -> str:
    """A request for ``path`` whose amount is the JSON text ``amount`` (e.g. Infinity)."""
    other = {k: v for k, v in RECORD.items() if k != "amount"}
    record = json.dumps(other)[:-1] + f', "amount": {amount}}}'
    if path.startswith("/v2/"):
        tensors = [
            {
                "name": k,
                "shape": [1],
                "datatype": "BYTES" if k == "segment" else "FP64",
                "data": [v],
            }
            for k, v in other.items()
        ]
        inputs = json.dumps(tensors)[:-1]
        inputs += f', {{"name": "amount", "shape": [1], "datatype": "FP64", "data": [{amount}]}}]'
        return f'{{"inputs": {inputs}}}'
    if path.startswith("/mlops/"):
        return f'{{"model": "fraud", "data": {record}}}'
    return f'{{"instances": [{record}]}}'


@pytest.mark.parametrize("target", ["server", "router"])
def test_generated_requests_get_no_server_error_and_valid_json(
    target: str, request: pytest.FixtureRequest, scale: Scale, figures: Figures
) -> None:
    process: ServerProcess = request.getfixturevalue(target)
    server: ServerProcess = request.getfixturevalue("server")
    spec = httpx.get(f"{server.url}/openapi.json", timeout=10).json()
    generated = _schemathesis(process.url, spec, scale)
    by_hand = _by_hand(process.url)
    section = f"Bad input, generated: {target}"
    figures.record(section, "schemathesis requests", generated.sent)
    figures.record(
        section, "hand-made requests (non-finite, huge, chunked, content types)", by_hand.sent
    )
    errors = generated.server_errors + by_hand.server_errors
    invalid = generated.invalid_json + by_hand.invalid_json
    figures.record(
        section,
        "answers ≥ 500 (or not 413 when too large)",
        len(errors),
        target="0",
        met=not errors,
    )
    figures.record(section, "answers not valid JSON", len(invalid), target="0", met=not invalid)
    assert generated.sent > 0
    print(f"{target}: {generated.statuses + by_hand.statuses}")
    print("\n".join(sorted(set(errors))[:40]))
    print("\n".join(sorted(set(invalid))[:20]))
    assert not errors, "\n".join(errors[:20])
    assert not invalid, "\n".join(invalid[:20])
