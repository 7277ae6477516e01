"""compose.yaml on the host's network: what the deployment test starts, on machines where no Docker bridge
network may exist (its addresses are a private range) and every port must be a free loopback one."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Ports:
    minio: int
    console: int
    function: int
    web: int


def on_host_network(doc: dict, ports: Ports) -> dict:
    """compose.yaml with every service on the host's network: the same images, commands, volumes, identities
    and healthchecks, the service names replaced by 127.0.0.1 and each port by a free loopback one. (An
    override file cannot do it: docker-compose merges `networks` and `ports`, it never removes them.)"""
    doc = json.loads(json.dumps(doc))  # a deep copy, the anchors already merged by the YAML loader
    urls = {
        "http://minio:9000": f"http://127.0.0.1:{ports.minio}",
        "http://classifier:8080": f"http://127.0.0.1:{ports.function}",
    }
    local = {
        "localhost:9000": f"127.0.0.1:{ports.minio}",
        "localhost:9001": f"127.0.0.1:{ports.console}",
        "localhost:8080": f"127.0.0.1:{ports.function}",
        "localhost:5000": f"127.0.0.1:{ports.web}",
    }
    for name, service in doc["services"].items():
        for key in ("build", "ports", "networks"):
            service.pop(key, None)
        service["network_mode"] = "host"
        env = service.get("environment", {})
        for variable, value in env.items():
            for old, new in urls.items():
                value = value.replace(old, new)
            env[variable] = value
        if env.get("BIND_HOST"):
            env["BIND_HOST"] = "127.0.0.1"
        if "healthcheck" in service:
            test = service["healthcheck"]["test"]
            for old, new in local.items():
                test = [part.replace(old, new) for part in test]
            assert test != service["healthcheck"]["test"], f"{name}'s healthcheck names no port this test moves"
            service["healthcheck"]["test"] = test
    services = doc["services"]
    assert services["minio"]["command"][:2] == ["server", "/data"]
    services["minio"]["command"] = [
        "server",
        "/data",
        "--address",
        f"127.0.0.1:{ports.minio}",
        "--console-address",
        f"127.0.0.1:{ports.console}",
    ]
    services["classifier"]["environment"]["FUNCTION_PORT"] = str(ports.function)
    services["web"]["environment"]["WEB_PORT"] = str(ports.web)
    doc.pop("networks", None)
    for key in [k for k in doc if k.startswith("x-")]:  # the anchors, already merged into the services
        del doc[key]
    return doc
