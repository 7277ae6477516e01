"""How `up` runs nats-server (alone, or as one node of a cluster): its configuration file and command line.

JetStream fsyncs every write (`sync_interval: always`): by default it acknowledges a publish before the data
is on disk (syncing every 2 minutes), and Jepsen lost up to 14 % of acknowledged messages of NATS 2.12.1 in
coordinated crashes that way. A message is only a hint here (the photo is in MinIO and the reconciler finds
whatever no message announced), but a hint that survives a crash is worth its cost (measured by the bench).
The token is not written into the file: the server reads it from its environment (`$GOURMETGRAM_NATS_TOKEN`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TOKEN_VARIABLE = "GOURMETGRAM_NATS_TOKEN"
CLUSTER_NAME = "gourmetgram"


@dataclass(frozen=True)
class NatsNode:
    name: str  # the part's name and the server's name ("nats", "nats-1", ...)
    client_port: int
    monitor_port: int  # HTTP monitoring: /healthz is the part's health check
    cluster_port: int | None = None
    routes: tuple[int, ...] = ()  # the cluster ports of every node of the cluster (its own included)
    sync_interval: str = "always"  # "always", or NATS's own default ("2m"): only the bench measures the latter

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def health_url(self) -> str:
        # JetStream's health: 200 once this server's JetStream (and in a cluster, its meta group) is current.
        return f"http://127.0.0.1:{self.monitor_port}/healthz"


def config(node: NatsNode, store_dir: Path) -> str:
    lines = [
        f"server_name: {node.name}",
        f"listen: 127.0.0.1:{node.client_port}",
        f"http: 127.0.0.1:{node.monitor_port}",
        f'jetstream {{ store_dir: "{store_dir}", sync_interval: {node.sync_interval} }}',
        f"authorization {{ token: ${TOKEN_VARIABLE} }}",
    ]
    if node.cluster_port is not None:
        routes = ", ".join(f"nats-route://127.0.0.1:{port}" for port in node.routes)
        lines.append(f"cluster {{ name: {CLUSTER_NAME}, listen: 127.0.0.1:{node.cluster_port}, routes: [{routes}] }}")
    return "\n".join(lines) + "\n"


def write(node: NatsNode, folder: Path) -> Path:
    """Write the node's configuration under `folder/<name>/` (its JetStream store beside it); returns the file."""
    home = (folder / node.name).resolve()
    (home / "jetstream").mkdir(parents=True, exist_ok=True)
    path = home / "nats.conf"
    path.write_text(config(node, home / "jetstream"))
    return path


def argv(binary: Path, conf: Path) -> list[str]:
    return [str(binary), "-c", str(conf)]


def env(token: str) -> dict[str, str]:
    return {TOKEN_VARIABLE: token}
