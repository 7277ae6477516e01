"""`gourmetgram up --cluster`: the scale-out topology on one machine, every process on loopback.

MinIO distributed over four nodes (four processes, two drives each: one erasure set of 8 drives, 4 of them
parity, so any one node may be lost), a three-node NATS cluster with JetStream (the stream replicated three
times), the front door (Debian's nginx: S3 and console over the MinIO nodes, TCP over the NATS nodes; see
`gourmetgram_tools.front` for why a balancer), function replicas consuming the stream, and the frontend. State
lives under `<data>/cluster/`, logs in `<data>/logs/`; each part is supervised like `up`'s.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from gourmetgram import names
from gourmetgram.settings import Settings
from gourmetgram_tools import front, nats_server
from gourmetgram_tools.local import LocalStack, PartSpec, StartupError, answers, free_ports, tool
from minio_config.desired import nats_env

MINIO_NODES, DRIVES, NATS_NODES = 4, 2, 3
NODE_PORTS = 2 * MINIO_NODES + 3 * NATS_NODES + 1  # see ClusterLayout.consecutive


@dataclass(frozen=True)
class ClusterLayout:
    """Every node's ports."""

    minio: tuple[tuple[int, int], ...]  # (API, console) of each MinIO node
    nats: tuple[tuple[int, int, int], ...]  # (client, cluster routes, monitoring) of each NATS node
    nats_front: int  # the front door's NATS (TCP) port, MinIO's NATS address
    functions: tuple[int, ...]  # one port per function replica

    @classmethod
    def default(cls, settings: Settings, replicas: int = 2) -> ClusterLayout:
        """MinIO nodes on 9101-9104 (consoles 9201-9204), NATS on 4222-4224 (routes 6222-6224, monitoring
        8222-8224, the front door's 4220), replicas from FUNCTION_PORT up."""
        return cls(
            tuple((9101 + i, 9201 + i) for i in range(MINIO_NODES)),
            tuple((4222 + i, 6222 + i, 8222 + i) for i in range(NATS_NODES)),
            4220,
            tuple(settings.function_port + i for i in range(replicas)),
        )

    @classmethod
    def consecutive(cls, first: int, settings: Settings, replicas: int = 2) -> ClusterLayout:
        """The nodes on NODE_PORTS ports from `first`: MinIO APIs, consoles, NATS clients, routes, monitoring, the
        front door's NATS; replicas from FUNCTION_PORT up."""
        p = iter(range(first, first + NODE_PORTS))
        minio_api = [next(p) for _ in range(MINIO_NODES)]
        minio_console = [next(p) for _ in range(MINIO_NODES)]
        nats = [[next(p) for _ in range(NATS_NODES)] for _ in range(3)]
        return cls(
            tuple(zip(minio_api, minio_console, strict=True)),
            tuple(zip(*nats, strict=True)),
            next(p),
            tuple(settings.function_port + i for i in range(replicas)),
        )

    @classmethod
    def free(cls, replicas: int = 2, avoid: Collection[int] = ()) -> ClusterLayout:
        """Free ports for every node, distinct and none in `avoid` (the front door's and the frontend's)."""
        p = iter(free_ports(2 * MINIO_NODES + 3 * NATS_NODES + 1 + replicas, avoid))
        return cls(
            tuple((next(p), next(p)) for _ in range(MINIO_NODES)),
            tuple((next(p), next(p), next(p)) for _ in range(NATS_NODES)),
            next(p),
            tuple(next(p) for _ in range(replicas)),
        )

    def settings(self, settings: Settings) -> Settings:
        """The cluster's settings: events by JetStream on every NATS node, the stream replicated 3 times, MinIO
        through the front door, the frontend's nudges to the first replica (the stream brings every event anyway)."""
        return settings.replace(
            event_transport=names.JETSTREAM,
            nats_replicas=3,
            nats_url=",".join(f"nats://127.0.0.1:{client}" for client, _, _ in self.nats),
            minio_url=f"http://127.0.0.1:{settings.minio_port}",
            function_url=f"http://127.0.0.1:{self.functions[0]}",
            function_port=self.functions[0],
        )


@dataclass
class ClusterStack(LocalStack):
    layout: ClusterLayout = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.layout is None:
            self.layout = ClusterLayout.default(self.settings)
        self.settings = self.layout.settings(self.settings)

    @property
    def state_dir(self) -> Path:
        return self.data_dir / "cluster"

    @property
    def nats_nodes(self) -> list[nats_server.NatsNode]:
        routes = tuple(cluster for _, cluster, _ in self.layout.nats)
        return [
            nats_server.NatsNode(f"nats-{i + 1}", client, monitor, cluster, routes)
            for i, (client, cluster, monitor) in enumerate(self.layout.nats)
        ]

    @property
    def front(self) -> front.Front:
        s = self.settings
        return front.Front(
            s.minio_port,
            s.console_port,
            self.layout.nats_front,
            self.layout.minio,
            tuple(client for client, _, _ in self.layout.nats),
        )

    @property
    def function_names(self) -> list[str]:
        return [f"function-{i + 1}" for i in range(len(self.layout.functions))]

    def function_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.layout.functions[self.function_names.index(name)]}"

    def ports(self) -> dict[str, tuple[str, int]]:
        s, layout = self.settings, self.layout
        ports = {
            "MinIO front (S3)": ("127.0.0.1", s.minio_port),
            "MinIO front (console)": ("127.0.0.1", s.console_port),
            "NATS front": ("127.0.0.1", layout.nats_front),
            "frontend": (s.host, s.web_port),
        }
        for i, (api, console) in enumerate(layout.minio, 1):
            ports.update({f"minio-{i} API": ("127.0.0.1", api), f"minio-{i} console": ("127.0.0.1", console)})
        for i, (client, cluster, monitor) in enumerate(layout.nats, 1):
            ports.update(
                {
                    f"nats-{i}": ("127.0.0.1", client),
                    f"nats-{i} routes": ("127.0.0.1", cluster),
                    f"nats-{i} monitoring": ("127.0.0.1", monitor),
                }
            )
        for name, port in zip(self.function_names, layout.functions, strict=True):
            ports[name] = (s.host, port)
        return ports

    def node_lines(self) -> list[str]:
        lines = [f"  {name:<16} {self.function_url(name)}" for name in self.function_names[1:]]
        lines += [
            f"  minio-{i:<10} http://127.0.0.1:{api}   (console http://127.0.0.1:{console})"
            for i, (api, console) in enumerate(self.layout.minio, 1)
        ]
        lines += [
            f"  {node.name:<16} {node.url}   (monitoring http://127.0.0.1:{node.monitor_port})"
            for node in self.nats_nodes
        ]
        lines.append(f"  front door       nginx: S3 {self.settings.minio_url}, NATS 127.0.0.1:{self.layout.nats_front}")
        return lines

    def start_minio_node(self, index: int) -> None:
        """Spawn MinIO node `index` (1-4) without waiting: alone it answers its health check but serves nothing."""
        s, (api, console) = self.settings, self.layout.minio[index - 1]
        endpoints = []
        for n, (node_api, _) in enumerate(self.layout.minio, 1):
            for d in range(1, DRIVES + 1):
                drive = (self.state_dir / "minio" / f"n{n}" / f"d{d}").resolve()
                drive.mkdir(parents=True, exist_ok=True)
                endpoints.append(f"http://127.0.0.1:{node_api}{drive}")
        env = {
            "MINIO_ROOT_USER": s.minio_user,
            "MINIO_ROOT_PASSWORD": s.minio_password,
            "MINIO_UPDATE": "off",
            # Eight drives on one disk: MinIO refuses drives on the root disk unless told this is a test
            # set-up (it also caps each node's buffer pool at 256 MiB, welcome with four nodes on one machine).
            "MINIO_CI_CD": "1",
            # In a container MinIO waits for 127.0.0.1 to resolve to another address before it believes an
            # endpoint is its own; this names its own (ignored elsewhere, and not compared between nodes).
            "_MINIO_SERVER_LOCAL": f"127.0.0.1:{api}",
            # Every node publishes the events of the requests it served, all through the same NATS address.
            **nats_env(s, f"127.0.0.1:{self.layout.nats_front}"),
            **self.minio_env,
        }
        argv = [
            str(tool(s, "minio")),
            "server",
            "--quiet",
            "--address",
            f"127.0.0.1:{api}",
            "--console-address",
            f"127.0.0.1:{console}",
            *endpoints,
        ]
        self.spawn_part(f"minio-{index}", PartSpec(argv, env, f"http://127.0.0.1:{api}/minio/health/live", api))

    def start_front(self, timeout_s: float = 30) -> None:
        conf = front.write(self.front, self.state_dir / "front")
        self.spawn_part(
            "front",
            PartSpec(front.argv(conf), {}, f"{self.settings.minio_url}/minio/health/live", self.settings.minio_port),
        )
        self.wait_ready("front", timeout_s)

    def wait_for_quorum(self, timeout_s: float = 90) -> None:
        """Until the erasure set can take writes (MinIO's cluster health, through the front door)."""
        deadline = time.monotonic() + timeout_s
        while not answers(f"{self.settings.minio_url}/minio/health/cluster"):
            if time.monotonic() > deadline:
                tails = "\n".join(
                    f"--- minio-{i}:\n{self.children[f'minio-{i}'].tail(8)}"
                    for i in range(1, MINIO_NODES + 1)
                    if f"minio-{i}" in self.children
                )
                raise StartupError(f"the MinIO nodes did not form a cluster within {timeout_s:.0f} s:\n{tails}")
            time.sleep(0.5)

    def start(self) -> ClusterStack:
        if not front.available():
            raise StartupError(front.MISSING)
        if self._lock is None:
            self.claim()
        for node in self.nats_nodes:
            self.start_nats(node, wait=False)
        for node in self.nats_nodes:  # a node's JetStream is current once the cluster has a meta leader
            self.wait_ready(node.name, 60)
        for index in range(1, MINIO_NODES + 1):
            self.start_minio_node(index)
        for index in range(1, MINIO_NODES + 1):
            self.wait_ready(f"minio-{index}", 60)
        self.start_front()
        self.wait_for_quorum()
        self.configure()  # the stream (3 replicas) and its consumer, buckets, subscription, identities
        for name, port in zip(self.function_names, self.layout.functions, strict=True):
            self.start_function(name=name, port=port, wait=False)
        for name in self.function_names:
            self.wait_ready(name, 180)
        self.start_web()
        for child in self.children.values():
            if child.process.poll() is not None:
                raise StartupError(f"{child.name} exited while the cluster started:\n{child.tail()}")
        return self
