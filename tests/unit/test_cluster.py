"""What `up` (and `up --cluster`) hand to NATS, nginx and MinIO: configuration files, ports and environments."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from click.testing import CliRunner

from gourmetgram.settings import Settings
from gourmetgram_tools import commands as cli
from gourmetgram_tools import front, local, nats_server
from gourmetgram_tools.cluster import ClusterLayout, ClusterStack
from gourmetgram_tools.local import LocalStack, on_loopback, stack_ports, supervision
from minio_config.desired import nats_env

SETTINGS = Settings(webhook_token="webhook-secret")


def test_every_nats_server_syncs_each_write_and_asks_for_the_token_from_its_environment(tmp_path):
    node = nats_server.NatsNode("nats-2", 4223, 8223, 6223, (6222, 6223, 6224))
    conf = nats_server.write(node, tmp_path).read_text()
    assert "sync_interval: always" in conf  # Jepsen: the default acknowledges before fsync
    assert f"token: ${nats_server.TOKEN_VARIABLE}" in conf and "webhook" not in conf
    assert "listen: 127.0.0.1:4223" in conf and "http: 127.0.0.1:8223" in conf and "server_name: nats-2" in conf
    assert "routes: [nats-route://127.0.0.1:6222, nats-route://127.0.0.1:6223, nats-route://127.0.0.1:6224]" in conf
    assert (tmp_path / "nats-2" / "jetstream").is_dir()
    alone = nats_server.config(nats_server.NatsNode("nats", 4222, 8222), tmp_path)
    assert "cluster" not in alone and "sync_interval: always" in alone
    assert nats_server.env("t") == {nats_server.TOKEN_VARIABLE: "t"}


def test_minio_publishes_to_one_nats_address_with_jetstream_and_no_queue():
    env = nats_env(SETTINGS.replace(nats_url="nats://10.0.0.1:4222,nats://10.0.0.2:4222"))
    assert env == {
        "MINIO_NOTIFY_NATS_ENABLE_GOURMETGRAM": "on",
        "MINIO_NOTIFY_NATS_ADDRESS_GOURMETGRAM": "10.0.0.1:4222",
        "MINIO_NOTIFY_NATS_SUBJECT_GOURMETGRAM": "gourmetgram.incoming",
        "MINIO_NOTIFY_NATS_JETSTREAM_GOURMETGRAM": "on",
        "MINIO_NOTIFY_NATS_TOKEN_GOURMETGRAM": SETTINGS.effective_nats_token,
    }
    assert nats_env(SETTINGS, "127.0.0.1:4220")["MINIO_NOTIFY_NATS_ADDRESS_GOURMETGRAM"] == "127.0.0.1:4220"


def test_a_single_stack_on_jetstream_gets_a_nats_server_and_minio_its_target(tmp_path):
    s = on_loopback(SETTINGS.replace(event_transport="jetstream", nats_port=4300, nats_monitor_port=8300))
    stack = LocalStack(s, tmp_path)
    assert s.nats_url == "nats://127.0.0.1:4300"
    assert {"NATS": ("127.0.0.1", 4300), "NATS monitoring": ("127.0.0.1", 8300)}.items() <= stack.ports().items()
    assert "MINIO_NOTIFY_NATS_ADDRESS_GOURMETGRAM" in stack.transport_env()
    assert not any(k.startswith("MINIO_NOTIFY_WEBHOOK") for k in stack.transport_env())
    webhook = LocalStack(on_loopback(SETTINGS), tmp_path)
    assert "NATS" not in webhook.ports() and "MINIO_NOTIFY_WEBHOOK_ENDPOINT_GOURMETGRAM" in webhook.transport_env()


def test_the_cluster_layout_has_a_port_each_and_runs_on_jetstream_with_three_replicas(tmp_path):
    stack = ClusterStack(on_loopback(SETTINGS), tmp_path)
    s = stack.settings
    assert s.jetstream and s.nats_replicas == 3 and len(s.nats_servers) == 3
    assert s.minio_url == "http://127.0.0.1:9000" and s.function_url == "http://127.0.0.1:8080"
    ports = [port for _, port in stack.ports().values()]
    assert len(ports) == len(set(ports)) == 3 + 2 * 4 + 3 * 3 + 2 + 1  # fronts, MinIO, NATS, replicas, web
    assert stack.function_names == ["function-1", "function-2"]
    free = ClusterLayout.free(replicas=1)
    assert len(free.functions) == 1 and len({p for pair in free.minio for p in pair}) == 8


def test_the_front_door_balances_s3_over_every_node_and_nats_over_tcp(tmp_path):
    stack = ClusterStack(on_loopback(SETTINGS), tmp_path)
    conf = front.write(stack.front, tmp_path / "front").read_text()
    for api, console in stack.layout.minio:
        assert f"server 127.0.0.1:{api} max_fails=1" in conf and f"server 127.0.0.1:{console};" in conf
    for client, _, _ in stack.layout.nats:
        assert f"server 127.0.0.1:{client} max_fails=1" in conf
    assert "listen 127.0.0.1:9000;" in conf and "listen 127.0.0.1:4220;" in conf
    assert "proxy_next_upstream error timeout" in conf and "proxy_set_header Host $http_host" in conf
    assert f"proxy_read_timeout {front.STALE_LOCK_S}s;" in conf and front.STALE_LOCK_S > 120
    assert f"load_module {front.STREAM_MODULE};" in conf and "master_process off;" in conf
    assert front.argv(Path("/x/nginx.conf"))[-2:] == ["-c", "/x/nginx.conf"]


def test_every_minio_node_gets_the_same_settings_but_its_own_address(tmp_path, monkeypatch):
    stack = ClusterStack(on_loopback(SETTINGS), tmp_path)
    monkeypatch.setattr("gourmetgram_tools.cluster.tool", lambda settings, name: Path(f"/bin/{name}"))
    specs = []
    monkeypatch.setattr(stack, "spawn_part", lambda name, spec: specs.append((name, spec)))
    for index in range(1, 5):
        stack.start_minio_node(index)
    shared = [{k: v for k, v in spec.env.items() if k.startswith("MINIO_") and k != "MINIO_CI_CD"} for _, spec in specs]
    assert all(env == shared[0] for env in shared)  # MinIO refuses a cluster whose nodes' MINIO_* differ
    assert shared[0]["MINIO_NOTIFY_NATS_ADDRESS_GOURMETGRAM"] == "127.0.0.1:4220"
    endpoints = [arg for arg in specs[0][1].argv if arg.startswith("http://")]
    assert len(endpoints) == 8 and all(spec.argv[-8:] == endpoints for _, spec in specs)
    assert [spec.env["_MINIO_SERVER_LOCAL"] for _, spec in specs] == [
        f"127.0.0.1:{p}" for p in (9101, 9102, 9103, 9104)
    ]


def test_the_cluster_parts_need_the_front_door_and_minio_nodes_get_patience():
    plan = supervision(["nats-1", "minio-1", "front", "function-1", "function-2", "web"])
    assert plan["needs"] == {"function-1": "front", "function-2": "front", "web": "front"}
    assert set(plan["liveness"]) == {"minio-1"} and set(plan["start_timeout_s"]) == {
        "nats-1",
        "minio-1",
        "front",
        "function-1",
        "function-2",
        "web",
    }


def test_up_cluster_refuses_the_webhook():
    result = CliRunner().invoke(cli.main, ["up", "--cluster", "--transport", "webhook"])
    assert result.exit_code == cli.EXIT_USAGE and "JetStream" in result.output


class LowestFreeKernel:
    """A kernel that answers bind(port 0) with the lowest port no socket holds: a port given back is the next
    answer, the case that put the frontend and a MinIO console on one port in CI."""

    def __init__(self, first: int = 40000):
        self.first, self.held = first, set()

    def socket(self):
        kernel = self

        class Socket:
            port = None

            def bind(self, address):
                assert address == ("127.0.0.1", 0)
                self.port = min(set(range(kernel.first, kernel.first + 1000)) - kernel.held)
                kernel.held.add(self.port)

            def getsockname(self):
                return ("127.0.0.1", self.port)

            def close(self):
                kernel.held.discard(self.port)

        return Socket()


def test_free_ports_are_distinct_and_never_ones_chosen_before(monkeypatch):
    kernel = LowestFreeKernel()
    monkeypatch.setattr(local, "socket", SimpleNamespace(socket=kernel.socket))
    assert local.free_ports(5) == [40000, 40001, 40002, 40003, 40004]
    assert not kernel.held, "every socket is given back"
    settings = on_loopback(SETTINGS, free=True)
    assert len(stack_ports(settings)) == 6
    layout = ClusterLayout.free(2, avoid=stack_ports(settings))
    chosen = [
        *[p for pair in layout.minio for p in pair],
        *[p for ports in layout.nats for p in ports],
        layout.nats_front,
        *layout.functions,
    ]
    assert len(chosen) == len(set(chosen)) == 2 * 4 + 3 * 3 + 1 + 2
    assert not set(chosen) & stack_ports(settings)
    assert local.free_port(avoid={40000, 40001}) == 40002
