"""The server's cap on glibc malloc arenas."""

from __future__ import annotations

import platform

import pytest

from mlops_serving.malloc_arenas import ARENA_MAX_ENV, cap_malloc_arenas

pytestmark = pytest.mark.unit


def test_an_arena_count_in_the_environment_is_left_to_glibc() -> None:
    assert cap_malloc_arenas({ARENA_MAX_ENV: "4"}) is False


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_takes_the_cap() -> None:
    assert cap_malloc_arenas({}) is True
