"""Pod and Service addresses: each pod gets its own IP on the loopback interface, and each
Service's ClusterIP is local too.

EndpointSlices may not hold 127.0.0.0/8 addresses (the API server rejects them), so the agent
adds a /24 of the benchmarking range 198.18.0.0/15 to ``lo`` (``ip addr add``: the kernel then
treats every address of that /24 as local, like 127/8). Each pod's address is also added to
``lo`` as a /32 while the pod runs, so that it is an interface address, as on a real pod network:
gloo (torch.distributed) looks its own address up among the interfaces' addresses. Without the
privilege to do that it falls back to 127.<n>.0.0/16: pods still run and reach each other, but
EndpointSlices stay empty.

Services get their ClusterIPs from the next /24 of the same range (198.19.<n>.0/24, the API
server's ``--service-cluster-ip-range``), which the agent adds to ``lo`` in the same way, so that
its Service proxies can listen on them (and a ClusterIP nobody serves refuses at once, on this
machine).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import subprocess
import threading
from pathlib import Path

from mlops_devcluster.layout import Layout

log = logging.getLogger(__name__)


def cluster_octet(state_dir: Path) -> int:
    """A number in 2..254 derived from the state folder, so that two devclusters on one machine
    rarely share a pod range."""
    digest = hashlib.sha256(str(state_dir).encode()).digest()
    return 2 + digest[0] % 253


def pod_range_marker(layout: Layout) -> Path:
    return layout.run / "pod-range"


def pod_network(octet: int) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(f"198.18.{octet}.0/24")


def service_range_marker(layout: Layout) -> Path:
    return layout.run / "service-range"


#: Services a devcluster's range holds unless asked for more (a /24)
SERVICES = 254


def service_network(octet: int, *, services: int = SERVICES) -> ipaddress.IPv4Network:
    """198.19.<octet>.0/24; for more than 254 Services, the larger block of 198.19.0.0/16 that
    holds that /24 (e.g. a /20 for 4,000: one of 16, so two such clusters meet more often)."""
    prefix = min(24, 32 - (services + 1).bit_length())
    return ipaddress.IPv4Network(f"198.19.{octet}.0/{prefix}", strict=False)


def fallback_network(octet: int) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(f"127.{octet}.0.0/16")


class LoopbackRange:
    """Adds the pod range to ``lo`` and removes it again, only if this cluster added it: the
    ``marker`` file records that (so ``down`` can clean up after an agent that was killed)."""

    def __init__(
        self,
        network: ipaddress.IPv4Network,
        *,
        marker: Path,
        without: str = "pods get 127.x addresses, which EndpointSlices cannot list",
    ) -> None:
        self.network = network
        self.gateway = f"{next(network.hosts())}/{network.prefixlen}"
        self.marker = marker
        self.without = without
        self.added = False

    def add(self) -> bool:
        """True when the range is usable (added now or already there)."""
        shown = subprocess.run(
            ["ip", "-4", "addr", "show", "dev", "lo"], capture_output=True, text=True, check=False
        )
        if f"inet {self.gateway} " in shown.stdout:
            self.added = self.marker.exists()
            return True
        result = subprocess.run(
            ["ip", "addr", "add", self.gateway, "dev", "lo"],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            log.warning(
                "cannot add %s to lo (%s); %s; run the devcluster as root (or with "
                "CAP_NET_ADMIN) to fix it",
                self.gateway,
                result.stderr.strip(),
                self.without,
            )
            return False
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        self.marker.write_text(self.gateway + "\n")
        self.added = True
        return True

    def remove(self) -> None:
        if self.added:
            remove_range(self.marker)
            self.added = False

    def assign(self, address: str) -> None:
        """Add one pod's address to ``lo`` (a /32 inside the range)."""
        result = subprocess.run(
            ["ip", "addr", "add", f"{address}/32", "dev", "lo"],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 and "File exists" not in result.stderr:
            log.warning(
                "cannot add pod address %s to lo (%s); gloo rendezvous in that pod will fail",
                address,
                result.stderr.strip(),
            )

    def unassign(self, address: str) -> None:
        subprocess.run(
            ["ip", "addr", "del", f"{address}/32", "dev", "lo"], capture_output=True, check=False
        )


def pod_addresses_on_lo(ip_addr_output: str, network: ipaddress.IPv4Network) -> list[str]:
    """The /32 pod addresses of ``network`` in ``ip -4 addr show dev lo`` output (pure)."""
    found = []
    for line in ip_addr_output.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "inet" and fields[1].endswith("/32"):
            address = fields[1].removesuffix("/32")
            if ipaddress.IPv4Address(address) in network:
                found.append(address)
    return found


def remove_range(marker: Path) -> None:
    """Remove the address recorded in ``marker`` from ``lo`` (if any), the pod addresses of
    its range that are left (from an agent that was killed) and the marker."""
    try:
        gateway = marker.read_text().strip()
    except FileNotFoundError:
        return
    shown = subprocess.run(
        ["ip", "-4", "addr", "show", "dev", "lo"], capture_output=True, text=True, check=False
    )
    network = ipaddress.IPv4Interface(gateway).network
    for address in pod_addresses_on_lo(shown.stdout, network):
        subprocess.run(
            ["ip", "addr", "del", f"{address}/32", "dev", "lo"], capture_output=True, check=False
        )
    subprocess.run(["ip", "addr", "del", gateway, "dev", "lo"], capture_output=True, check=False)
    marker.unlink(missing_ok=True)


class AddressPool:
    """Hands out addresses of ``network`` round-robin (never its first, the range's own); with
    ``loopback``, each address is on ``lo`` from allocation to release."""

    def __init__(
        self, network: ipaddress.IPv4Network, *, loopback: LoopbackRange | None = None
    ) -> None:
        hosts = [str(h) for h in network.hosts() if int(h) & 0xFF not in (0, 255)]
        self.network = network
        self.loopback = loopback
        self._hosts = hosts[1:]
        self._next = 0
        self._in_use: dict[str, str] = {}
        self._lock = threading.Lock()

    def allocate(self, owner: str) -> str:
        address = self._take(owner)
        if self.loopback is not None:
            self.loopback.assign(address)
        return address

    def _take(self, owner: str) -> str:
        with self._lock:
            for address, holder in self._in_use.items():
                if holder == owner:
                    return address
            for _ in range(len(self._hosts)):
                address = self._hosts[self._next]
                self._next = (self._next + 1) % len(self._hosts)
                if address not in self._in_use:
                    self._in_use[address] = owner
                    return address
        raise RuntimeError(f"no free pod address left in {self.network}")

    def release(self, owner: str) -> None:
        with self._lock:
            released = [a for a, h in self._in_use.items() if h == owner]
            for address in released:
                del self._in_use[address]
        if self.loopback is not None:
            for address in released:
                self.loopback.unassign(address)
