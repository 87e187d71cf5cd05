"""The closed-form normal and chi-square tails against scipy, and the operator's import cost."""

from __future__ import annotations

import subprocess
import sys

import pytest
from scipy.stats import chi2, norm

from mlops_operator.statistics.distributions import (
    chi_square_sf,
    chi_square_statistic,
    normal_isf,
    normal_sf,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("x", [-3.0, -0.5, 0.0, 0.7, 1.96, 4.0, 9.0, 30.0])
def test_normal_tail_is_scipys(x: float) -> None:
    assert normal_sf(x) == pytest.approx(norm.sf(x), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("q", [1e-12, 1e-6, 0.001, 0.025, 0.05, 0.3, 0.5, 0.8, 0.999])
def test_normal_critical_value_is_scipys(q: float) -> None:
    assert normal_isf(q) == pytest.approx(norm.isf(q), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("q", [0.0, 1.0, -0.1, 1.5])
def test_normal_critical_value_needs_a_probability_strictly_inside(q: float) -> None:
    with pytest.raises(ValueError, match="strictly between"):
        normal_isf(q)


@pytest.mark.parametrize("degrees", [1, 2, 3, 4, 5, 8, 11, 40])
@pytest.mark.parametrize("x", [0.0, 0.01, 0.5, 1.0, 3.84, 10.0, 40.0, 200.0, 1500.0])
def test_chi_square_tail_is_scipys(x: float, degrees: int) -> None:
    assert chi_square_sf(x, degrees) == pytest.approx(chi2.sf(x, degrees), rel=1e-9, abs=1e-300)


def test_chi_square_tail_needs_a_degree_of_freedom() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        chi_square_sf(1.0, 0)


def test_chi_square_statistic_is_pearsons() -> None:
    assert chi_square_statistic([10.0, 30.0], [20.0, 20.0]) == pytest.approx(10.0)


def test_the_operator_starts_without_scipy() -> None:
    """scipy costs about 65 MiB of resident memory on import; the operator needs none of it."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, mlops_operator.__main__, mlops_operator.cli; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'scipy', 'pandas', 'torch'}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert loaded == "[]"
