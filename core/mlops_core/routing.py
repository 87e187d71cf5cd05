"""The traffic router's configuration and its choice of backend version.

The operator writes a ``RouterConfig`` as JSON into the key ``router.json`` of a ConfigMap that
the router follows (``router_environment`` names it, with the rest of the router pods'
environment, which the router's settings read); the router re-reads it whenever it changes.
The choice of version for a request is a pure function of the config, an optional sticky key
(the value of ``stickyHeader``) and a uniform random draw, so it is unit-tested without a router.

A pool's routers read a ``PoolRouterConfig`` from the same key instead: one ``RouterConfig`` per
Deployment the pool serves (found by the first label of the request's Host, i.e. the
Deployment's own Service name), and the pool's placement: which servers hold each version. The
router prefers those servers and falls back to any server of the pool, which loads the version
on demand.

Sticky assignment hashes ``<model>/<key>`` with sha256, never Python's ``hash()``, so a user
lands on the same version across router restarts and replicas as long as the weights hold.
"""

from __future__ import annotations

import hashlib
import json
from typing import Final, Self

from pydantic import Field, PrivateAttr, ValidationError, model_validator

from mlops_core.prediction_ids import version_of_prediction
from mlops_core.wire import WireModel

ROUTER_CONFIG_KEY = "router.json"

#: the router pods' environment: the namespace of its ConfigMap and of the versions' Services
ENV_ROUTER_NAMESPACE: Final = "ROUTER_NAMESPACE"
#: the ConfigMap whose ``router.json`` the router follows through the API
ENV_ROUTER_CONFIG_MAP: Final = "ROUTER_CONFIG_MAP"
#: the file the router keeps that ``router.json`` in, and how often it looks at it
ENV_ROUTER_CONFIG_FILE: Final = "ROUTER_CONFIG_FILE"
ENV_ROUTER_CONFIG_POLL_SECONDS: Final = "ROUTER_CONFIG_POLL_SECONDS"
#: the port of the model server pods behind the versions' Services
ENV_BACKEND_PORT: Final = "BACKEND_PORT"
#: "true" for a ServingPool's router (its config is a PoolRouterConfig)
ENV_ROUTER_POOL: Final = "ROUTER_POOL"
TOTAL_WEIGHT = 100
VERSION_MAX = 64
BACKENDS_MAX = 16
ENDPOINTS_MAX = 256
POOL_ROUTES_MAX = 1024
POOL_PLACED_MAX = 4096
POOL_SERVERS_MAX = 64
COPIES_MAX = 8


def router_environment(
    *, namespace: str, config_map: str, config_file: str, poll_seconds: float, backend_port: int
) -> dict[str, str]:
    """The router container's environment variables."""
    return {
        ENV_ROUTER_NAMESPACE: namespace,
        ENV_ROUTER_CONFIG_MAP: config_map,
        ENV_ROUTER_CONFIG_FILE: config_file,
        ENV_ROUTER_CONFIG_POLL_SECONDS: str(poll_seconds),
        ENV_BACKEND_PORT: str(backend_port),
    }


class RoutingError(ValueError):
    """A router config that cannot be used; the message says what to fix."""


class RouteBackend(WireModel):
    """One served version and where its pods are."""

    version: str = Field(min_length=1, max_length=VERSION_MAX, description="Model version.")
    weight: int = Field(ge=0, le=TOTAL_WEIGHT, description="Share of traffic in percent.")
    service: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        description="Per-version Service whose EndpointSlices list the pods.",
    )
    endpoints: list[str] = Field(
        default_factory=list,
        max_length=ENDPOINTS_MAX,
        description="Static host:port list (local use); used when no service is given.",
    )

    @model_validator(mode="after")
    def _needs_a_target(self) -> Self:
        if self.service is None and not self.endpoints:
            raise ValueError(
                f"backend {self.version!r} names neither a service nor static endpoints: "
                "set service (in a cluster) or endpoints ['host:port', ...]"
            )
        for endpoint in self.endpoints:
            host, _, port = endpoint.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"endpoint {endpoint!r} of {self.version!r} is not host:port")
        return self


class MirrorSpec(WireModel):
    """Shadow traffic: a copy of some requests goes to another version, its answer dropped."""

    version: str = Field(min_length=1, max_length=VERSION_MAX, description="Mirrored version.")
    percent: float = Field(ge=0, le=100, description="Share of requests copied, in percent.")


class RouterConfig(WireModel):
    """Everything a router needs to split one model's traffic across its versions."""

    model: str = Field(min_length=1, max_length=253, description="Registry model name.")
    backends: list[RouteBackend] = Field(
        min_length=1, max_length=BACKENDS_MAX, description="Versions and their weights."
    )
    sticky_header: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Request header whose value pins a caller to one version (e.g. x-user-id).",
    )
    mirror: MirrorSpec | None = Field(default=None, description="Optional shadow traffic.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        versions = [b.version for b in self.backends]
        if len(set(versions)) != len(versions):
            raise ValueError(f"backends list a version twice: {versions}")
        total = sum(b.weight for b in self.backends)
        if total != TOTAL_WEIGHT:
            raise ValueError(
                f"backend weights add up to {total}; they must add up to {TOTAL_WEIGHT}"
            )
        if self.mirror is not None and self.mirror.version not in versions:
            raise ValueError(
                f"mirror version {self.mirror.version!r} is not among the backends {versions}: "
                "list it as a backend (weight 0 is fine)"
            )
        return self

    def backend(self, version: str) -> RouteBackend:
        for item in self.backends:
            if item.version == version:
                return item
        raise RoutingError(f"no backend for version {version!r}")


class PoolRoute(WireModel):
    """One Deployment a pool serves: the Service name it is addressed by, and its split."""

    deployment: str = Field(
        min_length=1,
        max_length=63,
        description="The Deployment's Service name: requests whose Host starts with it.",
    )
    routing: RouterConfig = Field(
        description="Versions and weights; each backend names the pool's servers."
    )


class PlacedVersion(WireModel):
    """Servers that hold one version (placement), in the order they are preferred."""

    model: str = Field(min_length=1, max_length=253, description="Registry model name.")
    version: str = Field(min_length=1, max_length=VERSION_MAX, description="Model version.")
    servers: list[str] = Field(
        min_length=1, max_length=COPIES_MAX, description="Names of the servers holding it."
    )
    digest: str | None = Field(
        default=None,
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="The manifest digest the version must have (its ModelVersion's): a pool "
        "server refuses a version whose manifest differs.",
    )


class PoolRouterConfig(WireModel):
    """What a pool's routers need: every Deployment's route and the placement of versions."""

    _route_index: dict[str, PoolRoute] = PrivateAttr(default_factory=dict)
    _placed_index: dict[tuple[str, str], list[str]] = PrivateAttr(default_factory=dict)

    pool: str = Field(min_length=1, max_length=63, description="ServingPool name.")
    server_endpoints: dict[str, str] = Field(
        default_factory=dict,
        max_length=POOL_SERVERS_MAX,
        description="Server name → static host:port (local use); empty in a cluster, where "
        "the backends' Service's EndpointSlices give each server pod's address by name.",
    )
    routes: list[PoolRoute] = Field(
        default_factory=list, max_length=POOL_ROUTES_MAX, description="One per Deployment."
    )
    placements: list[PlacedVersion] = Field(
        default_factory=list, max_length=POOL_PLACED_MAX, description="Where versions live."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [r.deployment for r in self.routes]
        if len(set(names)) != len(names):
            raise ValueError(f"routes list a deployment twice: {sorted(names)}")
        keys = [(p.model, p.version) for p in self.placements]
        if len(set(keys)) != len(keys):
            raise ValueError("placements list a version twice")
        return self

    def route(self, deployment: str) -> PoolRoute | None:
        """The route of ``deployment``, or None."""
        return self._route_index.get(deployment)

    def route_for_model(self, model: str) -> PoolRoute | None:
        """The first route serving ``model`` (for a request whose Host names no route)."""
        return next((r for r in self.routes if r.routing.model == model), None)

    def servers_of(self, model: str, version: str) -> list[str]:
        """Servers placed to hold ``model`` ``version`` (empty: not placed)."""
        return self._placed_index.get((model, version), [])

    def model_post_init(self, context: object, /) -> None:
        self._route_index = {r.deployment: r for r in self.routes}
        self._placed_index = {(p.model, p.version): p.servers for p in self.placements}


def _mapping_of(text: str) -> dict[str, object]:
    try:
        raw = json.loads(text)
    except ValueError:
        import yaml  # the rare YAML config only: the model server never parses one at start

        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RoutingError(f"router config is neither JSON nor YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise RoutingError("router config must be a mapping with model and backends")
    return raw


def parse_router_config(text: str) -> RouterConfig:
    """A RouterConfig from JSON or YAML text; errors name the offending field."""
    try:
        return RouterConfig.model_validate(_mapping_of(text))
    except ValidationError as exc:
        raise RoutingError(f"invalid router config: {exc}") from exc


def parse_pool_router_config(text: str) -> PoolRouterConfig:
    """A pool's PoolRouterConfig from JSON or YAML text; errors name the offending field."""
    try:
        return PoolRouterConfig.model_validate(_mapping_of(text))
    except ValidationError as exc:
        raise RoutingError(f"invalid pool router config: {exc}") from exc


#: the response header naming the version that answered; a request that carries it goes to that
#: version when it is a backend (e.g. ``:explain`` of an earlier prediction)
VERSION_HEADER: Final = "x-mlops-version"


def requested_version(
    config: RouterConfig,
    *,
    in_path: str | None,
    in_header: str | None,
    prediction: str | None = None,
) -> str | None:
    """The version a request names itself, when that version is one of the backends, else None
    (the split). In order: its path (``/versions/X``), the version that made the prediction whose
    id it carries (``prediction_ids.PREDICTION_ID_HEADER``), ``VERSION_HEADER``."""
    known = {b.version for b in config.backends}
    by_prediction = version_of_prediction(prediction) if prediction is not None else None
    for named in (in_path, by_prediction, in_header):
        if named is not None and named in known:
            return named
    return None


def sticky_fraction(model: str, key: str) -> float:
    """A stable number in [0, 1) for a sticky key: the first 8 bytes of sha256, scaled."""
    digest = hashlib.sha256(f"{model}/{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def choose_version(config: RouterConfig, *, draw: float, sticky_key: str | None = None) -> str:
    """The version a request goes to.

    ``draw`` is a uniform random number in [0, 1) used when there is no sticky key; with one,
    the key's stable hash takes its place. Versions of weight 0 are never chosen.
    """
    point = sticky_fraction(config.model, sticky_key) if sticky_key is not None else draw
    if not 0.0 <= point < 1.0:
        raise RoutingError(f"draw must lie in [0, 1), got {point}")
    target = point * TOTAL_WEIGHT
    cumulative = 0
    for backend in config.backends:
        cumulative += backend.weight
        if backend.weight > 0 and target < cumulative:
            return backend.version
    return next(b.version for b in reversed(config.backends) if b.weight > 0)


def should_mirror(config: RouterConfig, *, draw: float, chosen: str) -> str | None:
    """The version to copy this request to, or None. Never mirrors to the chosen version."""
    mirror = config.mirror
    if mirror is None or mirror.version == chosen or mirror.percent <= 0:
        return None
    return mirror.version if draw * 100.0 < mirror.percent else None
