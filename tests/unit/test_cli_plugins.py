"""``mlops demo`` and ``mlops devcluster`` come from the development harness, which plugs them
into the operator's command line through the ``mlops.cli`` entry point group."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from mlops_operator.cli import PLUGIN_GROUP, build_parser, main

pytestmark = pytest.mark.unit


def test_the_harness_registers_its_commands_as_an_entry_point() -> None:
    entries = {e.name: e.value for e in entry_points(group=PLUGIN_GROUP)}
    assert entries == {"devcluster": "mlops_devcluster.commands:register_commands"}


def test_mlops_parses_the_plugged_in_commands() -> None:
    demo = build_parser().parse_args(["demo", "--keep", "--timeout", "30"])
    assert demo.keep
    assert demo.timeout == 30.0
    assert callable(demo.handler)
    up = build_parser().parse_args(["devcluster", "--dir", "/tmp/x", "up"])
    assert callable(up.handler)


def test_a_devcluster_command_runs_through_mlops(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    # nothing runs in an empty state folder: the status says so and exits 1
    assert main(["devcluster", "--dir", str(tmp_path), "status"]) == 1
    out = capsys.readouterr().out
    assert f"state folder: {tmp_path}" in out
    assert out.rstrip().endswith("down")
