"""Distributed data parallel: who am I, how to join, and the few collectives the loop needs.

The rendezvous comes from the environment the operator sets on an Indexed Job: ``MASTER_ADDR``,
``MASTER_PORT``, ``WORLD_SIZE`` and ``RANK`` (or ``JOB_COMPLETION_INDEX``). gloo on CPU, nccl
on GPU. No collective here pickles: results travel as tensors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from mlops_core.trainer_environment import (
    ENV_COMPLETION_INDEX,
    ENV_MASTER_ADDR,
    ENV_MASTER_PORT,
    ENV_RANK,
    ENV_WORLD_SIZE,
)
from mlops_trainer.errors import TrainerError

RENDEZVOUS_TIMEOUT = timedelta(minutes=10)
DIGEST_BYTES = 32


@dataclass(frozen=True)
class DistributedContext:
    rank: int
    world_size: int
    master_addr: str | None = None
    master_port: int | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_primary(self) -> bool:
        return self.rank == 0


def _int(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise TrainerError(f"${name} must be an integer, got {env[name]!r}") from None


def context_from_env(env: Mapping[str, str] | None = None) -> DistributedContext:
    environ = os.environ if env is None else env
    world = _int(environ, ENV_WORLD_SIZE) if environ.get(ENV_WORLD_SIZE) else 1
    if world < 1:
        raise TrainerError(f"${ENV_WORLD_SIZE} must be at least 1, got {world}")
    if world == 1:
        return DistributedContext(rank=0, world_size=1)
    if environ.get(ENV_RANK):
        rank = _int(environ, ENV_RANK)
    elif environ.get(ENV_COMPLETION_INDEX):
        rank = _int(environ, ENV_COMPLETION_INDEX)
    else:
        raise TrainerError(f"${ENV_WORLD_SIZE} > 1 needs ${ENV_RANK} or ${ENV_COMPLETION_INDEX}")
    if not 0 <= rank < world:
        raise TrainerError(f"rank {rank} is outside 0..{world - 1} (${ENV_WORLD_SIZE}={world})")
    addr = environ.get(ENV_MASTER_ADDR)
    if not addr or not environ.get(ENV_MASTER_PORT):
        raise TrainerError(f"${ENV_WORLD_SIZE} > 1 needs ${ENV_MASTER_ADDR} and ${ENV_MASTER_PORT}")
    return DistributedContext(
        rank=rank, world_size=world, master_addr=addr, master_port=_int(environ, ENV_MASTER_PORT)
    )


def select_device(ctx: DistributedContext) -> torch.device:
    """CUDA when present (one GPU per local worker), CPU otherwise."""
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", ctx.rank % torch.cuda.device_count()))
        return torch.device("cuda", local)
    return torch.device("cpu")


def init(ctx: DistributedContext, device: torch.device) -> None:
    if not ctx.enabled:
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend,
        init_method=f"tcp://{ctx.master_addr}:{ctx.master_port}",
        rank=ctx.rank,
        world_size=ctx.world_size,
        timeout=RENDEZVOUS_TIMEOUT,
    )


def shutdown(ctx: DistributedContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_int(ctx: DistributedContext, value: int, device: torch.device) -> int:
    """Rank 0's ``value`` on every rank."""
    if not ctx.enabled:
        return value
    tensor = torch.tensor([value], dtype=torch.int64, device=device)
    dist.broadcast(tensor, src=0)
    return int(tensor.item())


def all_reduce_sum(ctx: DistributedContext, tensor: torch.Tensor) -> torch.Tensor:
    if ctx.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_digest(
    ctx: DistributedContext, digest: str | None, device: torch.device
) -> str | None:
    """Rank 0's published digest (``sha256:<hex>``) on every rank; None when rank 0 failed."""
    if not ctx.enabled:
        return digest
    payload = torch.zeros(DIGEST_BYTES + 1, dtype=torch.uint8, device=device)
    if ctx.is_primary and digest is not None:
        payload[0] = 1
        payload[1:] = torch.tensor(list(bytes.fromhex(digest.removeprefix("sha256:"))))
    dist.broadcast(payload, src=0)
    if int(payload[0].item()) == 0:
        return None
    return "sha256:" + bytes(payload[1:].cpu().tolist()).hex()
