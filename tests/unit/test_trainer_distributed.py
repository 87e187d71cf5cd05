"""Distributed settings from the environment and the per-rank sharding of an epoch."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mlops_trainer.cpu_threads import cgroup_cpu_limit, thread_count
from mlops_trainer.distributed import DistributedContext, context_from_env
from mlops_trainer.errors import TrainerError
from mlops_trainer.training_loop import derive_seed, shard_batches

pytestmark = pytest.mark.unit

MASTER = {"MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"}


def test_single_worker_without_env() -> None:
    ctx = context_from_env({})
    assert (ctx.rank, ctx.world_size, ctx.enabled) == (0, 1, False)


def test_rank_from_rank_or_job_completion_index() -> None:
    assert context_from_env({"WORLD_SIZE": "3", "RANK": "2", **MASTER}).rank == 2
    ctx = context_from_env({"WORLD_SIZE": "2", "JOB_COMPLETION_INDEX": "1", **MASTER})
    assert (ctx.rank, ctx.master_addr, ctx.master_port) == (1, "10.0.0.1", 29500)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WORLD_SIZE": "2", **MASTER}, r"needs \$RANK or \$JOB_COMPLETION_INDEX"),
        ({"WORLD_SIZE": "2", "RANK": "2", **MASTER}, r"rank 2 is outside 0..1"),
        ({"WORLD_SIZE": "2", "RANK": "0"}, r"needs \$MASTER_ADDR and \$MASTER_PORT"),
        ({"WORLD_SIZE": "two"}, r"\$WORLD_SIZE must be an integer"),
    ],
)
def test_incomplete_rendezvous_env_is_a_clear_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(TrainerError, match=message):
        context_from_env(env)


def test_single_worker_batches_cover_the_epoch_once() -> None:
    batches = shard_batches(10, 4, seed=1, epoch=1, ctx=DistributedContext(0, 1))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
    again = shard_batches(10, 4, seed=1, epoch=1, ctx=DistributedContext(0, 1))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    other_epoch = shard_batches(10, 4, seed=1, epoch=2, ctx=DistributedContext(0, 1))
    assert not np.array_equal(np.concatenate(batches), np.concatenate(other_epoch))


def test_ranks_split_each_global_batch_and_run_equal_steps() -> None:
    per_rank = [shard_batches(11, 4, seed=3, epoch=1, ctx=DistributedContext(r, 2)) for r in (0, 1)]
    assert [len(b) for b in per_rank[0]] == [2, 2, 2] == [len(b) for b in per_rank[1]]
    seen = np.concatenate([np.concatenate(b) for b in per_rank])
    assert set(seen.tolist()) == set(range(11))  # all rows, one wrapped around to pad
    first_step = np.concatenate([per_rank[0][0], per_rank[1][0]])
    single = shard_batches(11, 4, seed=3, epoch=1, ctx=DistributedContext(0, 1))
    assert np.array_equal(first_step, single[0])  # same global batch as one worker would see


def test_derived_seeds_are_stable_and_distinct() -> None:
    assert derive_seed(42, 1, 0) == derive_seed(42, 1, 0)
    assert len({derive_seed(42, e, r) for e in range(5) for r in range(3)}) == 15


def test_torch_threads_follow_the_cgroup_cpu_limit(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("150000 100000\n")
    assert cgroup_cpu_limit(cpu_max) == 1.5
    assert thread_count({}, cpu_max) == min(2, os.cpu_count() or 1)
    assert thread_count({"OMP_NUM_THREADS": "3"}, cpu_max) is None
    cpu_max.write_text("max 100000\n")
    assert thread_count({}, cpu_max) is None
    assert thread_count({}, tmp_path / "missing") is None


def test_torch_threads_follow_the_declared_cpu_limit_where_the_cgroup_shows_none(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "missing"
    assert thread_count({"MLOPS_CPU_LIMIT_MILLICORES": "500"}, missing) == 1
    assert thread_count({"MLOPS_CPU_LIMIT_MILLICORES": "64000"}, missing) == os.cpu_count()
    assert thread_count({"MLOPS_CPU_LIMIT_MILLICORES": "0"}, missing) is None
    assert thread_count({"MLOPS_CPU_LIMIT_MILLICORES": "lots"}, missing) is None
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("150000 100000\n")
    assert thread_count({"MLOPS_CPU_LIMIT_MILLICORES": "500"}, cpu_max) == 1  # the smaller
    assert (
        thread_count({"MLOPS_CPU_LIMIT_MILLICORES": "500", "OMP_NUM_THREADS": "2"}, missing) is None
    )
