"""The loopback ports a devcluster listens on: fixed defaults, or free ones for tests."""

from __future__ import annotations

import errno
import socket
from dataclasses import asdict, dataclass
from typing import Final

HOST: Final = "127.0.0.1"


class PortInUseError(RuntimeError):
    """A port the devcluster needs is taken; the message names it and its user."""


@dataclass(frozen=True)
class Ports:
    etcd_client: int = 32379
    etcd_peer: int = 32380
    apiserver: int = 36443
    minio: int = 39000
    minio_console: int = 39001

    def to_json(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, int]) -> Ports:
        return cls(**data)

    def named(self) -> dict[str, int]:
        return {
            "etcd client": self.etcd_client,
            "etcd peer": self.etcd_peer,
            "kube-apiserver": self.apiserver,
            "MinIO": self.minio,
            "MinIO console": self.minio_console,
        }


def free_ports() -> Ports:
    """Ports the kernel reports free right now (held open together, so they are distinct)."""
    sockets = []
    try:
        for _ in range(5):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            sockets.append(s)
        numbers = [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
    return Ports(*numbers)


def port_free(port: int, *, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def check_ports(ports: Ports, *, can_move: bool = True) -> None:
    """Raise :class:`PortInUseError` naming every port that is taken; ``can_move`` says whether
    ``--free-ports`` would help (not once the cluster has data bound to its ports)."""
    taken = [f"{what} port {port}" for what, port in ports.named().items() if not port_free(port)]
    if taken:
        remedy = (
            "start this one with `--free-ports`"
            if can_move
            else "remove this devcluster (`down --purge`) and start it again with `--free-ports`"
        )
        raise PortInUseError(
            f"{', '.join(taken)} on {HOST} already in use (another devcluster, or another "
            f"program: see `ss -ltnp`); stop it, or {remedy}"
        )
