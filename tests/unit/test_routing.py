"""Router config validation and the pure weighted/sticky choice of version."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from mlops_core.prediction_ids import (
    FEEDBACK_ID_FIELD,
    prediction_id,
    prediction_of_feedback,
    version_of_prediction,
)
from mlops_core.routing import (
    RouterConfig,
    RoutingError,
    choose_version,
    parse_router_config,
    requested_version,
    should_mirror,
    sticky_fraction,
)

pytestmark = pytest.mark.unit


def _config(**extra: object) -> RouterConfig:
    raw: dict[str, object] = {
        "model": "fraud",
        "backends": [
            {"version": "1.0.0", "weight": 90, "service": "fraud-v1-0-0"},
            {"version": "1.1.0", "weight": 10, "endpoints": ["127.0.0.5:8080"]},
        ],
    }
    raw.update(extra)
    return RouterConfig.model_validate(raw)


def test_draws_map_onto_cumulative_weights() -> None:
    config = _config()
    assert choose_version(config, draw=0.0) == "1.0.0"
    assert choose_version(config, draw=0.8999) == "1.0.0"
    assert choose_version(config, draw=0.9) == "1.1.0"
    assert choose_version(config, draw=0.99999) == "1.1.0"


def test_weight_zero_is_never_chosen() -> None:
    config = RouterConfig.model_validate(
        {
            "model": "m",
            "backends": [
                {"version": "a", "weight": 0, "endpoints": ["h:1"]},
                {"version": "b", "weight": 100, "endpoints": ["h:2"]},
                {"version": "c", "weight": 0, "endpoints": ["h:3"]},
            ],
        }
    )
    assert {choose_version(config, draw=d / 1000) for d in range(1000)} == {"b"}


def test_split_over_many_draws_is_close_to_the_weights() -> None:
    config = _config()
    rng = random.Random(1)
    counts = Counter(choose_version(config, draw=rng.random()) for _ in range(10_000))
    assert abs(counts["1.1.0"] / 10_000 - 0.10) < 0.015


def test_sticky_keys_are_stable_and_spread_by_weight() -> None:
    config = _config(stickyHeader="x-user")
    first = [choose_version(config, draw=0.0, sticky_key=f"user-{i}") for i in range(4000)]
    again = [choose_version(config, draw=0.99, sticky_key=f"user-{i}") for i in range(4000)]
    assert first == again  # the draw is ignored when a key is given
    share = first.count("1.1.0") / len(first)
    assert 0.08 < share < 0.12


def test_sticky_fraction_is_sha256_based() -> None:
    import hashlib

    digest = hashlib.sha256(b"fraud/alice").digest()
    assert sticky_fraction("fraud", "alice") == int.from_bytes(digest[:8], "big") / 2**64


def test_mirror_never_copies_to_the_chosen_version() -> None:
    config = _config(mirror={"version": "1.1.0", "percent": 50})
    assert should_mirror(config, draw=0.1, chosen="1.0.0") == "1.1.0"
    assert should_mirror(config, draw=0.6, chosen="1.0.0") is None
    assert should_mirror(config, draw=0.1, chosen="1.1.0") is None
    assert should_mirror(_config(), draw=0.0, chosen="1.0.0") is None


def test_parse_accepts_json_and_yaml() -> None:
    raw = _config().to_wire()
    assert parse_router_config(json.dumps(raw)) == _config()
    yaml_text = (
        "model: fraud\nbackends:\n"
        "  - {version: 1.0.0, weight: 90, service: fraud-v1-0-0}\n"
        "  - {version: 1.1.0, weight: 10, endpoints: ['127.0.0.5:8080']}\n"
    )
    assert parse_router_config(yaml_text) == _config()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"model": "m", "backends": []}, "at least 1"),
        (
            {"model": "m", "backends": [{"version": "a", "weight": 50, "endpoints": ["h:1"]}]},
            "add up to 50",
        ),
        (
            {
                "model": "m",
                "backends": [
                    {"version": "a", "weight": 50, "endpoints": ["h:1"]},
                    {"version": "a", "weight": 50, "endpoints": ["h:2"]},
                ],
            },
            "version twice",
        ),
        ({"model": "m", "backends": [{"version": "a", "weight": 100}]}, "neither a service"),
        (
            {"model": "m", "backends": [{"version": "a", "weight": 100, "endpoints": ["nope"]}]},
            "not host:port",
        ),
        (
            {
                "model": "m",
                "backends": [{"version": "a", "weight": 100, "endpoints": ["h:1"]}],
                "mirror": {"version": "b", "percent": 5},
            },
            "not among the backends",
        ),
        (
            {
                "model": "m",
                "backends": [{"version": "a", "weight": 100, "endpoints": ["h:1"]}],
                "stikyHeader": "x",
            },
            "stikyHeader",
        ),
    ],
)
def test_invalid_configs_say_what_to_fix(raw: dict[str, object], message: str) -> None:
    with pytest.raises(RoutingError, match=message):
        parse_router_config(json.dumps(raw))


def test_non_mapping_and_garbage_are_rejected() -> None:
    with pytest.raises(RoutingError, match="mapping"):
        parse_router_config("[1, 2]")
    with pytest.raises(RoutingError, match="neither JSON nor YAML"):
        parse_router_config("model: [unclosed")


def test_draw_out_of_range_is_an_error() -> None:
    with pytest.raises(RoutingError, match=r"\[0, 1\)"):
        choose_version(_config(), draw=1.0)


def test_a_request_naming_the_version_that_answered_goes_there() -> None:
    config = _config()
    # :explain of an earlier answer carries its x-mlops-version header
    assert requested_version(config, in_path=None, in_header="1.1.0") == "1.1.0"
    assert requested_version(config, in_path="1.0.0", in_header="1.1.0") == "1.0.0"
    assert requested_version(config, in_path=None, in_header="9.9.9") is None  # the split
    assert requested_version(config, in_path=None, in_header=None) is None


def test_a_request_carrying_a_prediction_id_goes_to_the_version_that_made_it() -> None:
    config = _config()
    made_by_canary = prediction_id("0" * 32, "1.1.0")
    assert version_of_prediction(made_by_canary) == "1.1.0"
    assert version_of_prediction("0" * 32) is None  # an id that names no version
    assert version_of_prediction("0" * 32 + "@") is None
    by_id = requested_version(config, in_path=None, in_header=None, prediction=made_by_canary)
    assert by_id == "1.1.0"
    # the path wins, the id before the version header; an unknown version leaves the split
    assert (
        requested_version(config, in_path="1.0.0", in_header=None, prediction=made_by_canary)
        == "1.0.0"
    )
    assert (
        requested_version(config, in_path=None, in_header="1.0.0", prediction=made_by_canary)
        == "1.1.0"
    )
    gone = prediction_id("0" * 32, "0.9.0")
    assert requested_version(config, in_path=None, in_header=None, prediction=gone) is None


def test_a_feedback_body_names_its_prediction() -> None:
    made = prediction_id("ab" * 16, "1.1.0")
    body = json.dumps({FEEDBACK_ID_FIELD: made, "trueLabel": "fraud"}).encode()
    assert prediction_of_feedback(body) == made
    # bodies that name none leave the split (the server then says what is wrong)
    assert prediction_of_feedback(b"not json") is None
    assert prediction_of_feedback(b"[1, 2]") is None
    assert prediction_of_feedback(json.dumps({FEEDBACK_ID_FIELD: 7}).encode()) is None
    assert prediction_of_feedback(json.dumps({"trueLabel": "fraud"}).encode()) is None
    assert prediction_of_feedback(json.dumps({FEEDBACK_ID_FIELD: "x" * 500}).encode()) is None
