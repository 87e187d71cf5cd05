"""``python -m mlops_serving serve`` (model server) or ``route`` (traffic router)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from mlops_core.legacy_environment import adopt_legacy_environment
from mlops_serving.malloc_arenas import cap_malloc_arenas

#: seconds a stopping process keeps answering the requests it has received
ROUTER_GRACE_S = 5.0
SERVER_GRACE_S = 10.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_serving")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("serve", "run the model server"), ("route", "run the traffic router")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--host", help="bind address (default: $HOST or 0.0.0.0)")
        cmd.add_argument("--port", type=int, help="port (default: $PORT or 8080)")
        cmd.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    cap_malloc_arenas(os.environ)  # before any thread allocates
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    adopt_legacy_environment(os.environ)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    from mlops_serving.http_front import Front, run

    front: Front
    if args.command == "route":
        from mlops_serving.router_app import ProxyApp, build_router_app
        from mlops_serving.settings import RouterSettings

        router_settings = RouterSettings(**overrides)
        if router_settings.router_config_map and router_settings.router_namespace:
            from mlops_serving.router_config_map import ConfigMapMirror

            ConfigMapMirror(
                router_settings.router_namespace,
                router_settings.router_config_map,
                router_settings.router_config_file,
            ).start()
        if router_settings.router_pool:
            from mlops_serving.pool_router import build_pool_router_app

            proxy: ProxyApp = build_pool_router_app(router_settings)
        else:
            proxy = build_router_app(router_settings)
        front, grace = proxy, ROUTER_GRACE_S
        host, port, max_body = (
            router_settings.host,
            router_settings.port,
            router_settings.max_request_bytes,
        )
    else:
        from mlops_serving.server_app import build_server_front
        from mlops_serving.settings import ServerSettings

        server_settings = ServerSettings(**overrides)
        front, grace = build_server_front(server_settings), SERVER_GRACE_S
        host, port, max_body = (
            server_settings.host,
            server_settings.port,
            server_settings.max_request_bytes,
        )
    run(front, host=host, port=port, max_body=max_body, grace_seconds=grace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
