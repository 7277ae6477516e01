"""The cluster's front door (`up --cluster`): Debian's nginx in front of the four MinIO nodes (S3 and console)
and of the three NATS nodes (TCP), on loopback.

Why a balancer rather than several endpoints in each client: every client of MinIO keeps one URL and needs no
failover code of its own (the function, the frontend, `configure`'s admin calls, mc, boto3 in the tests, the
console in a browser), and this is the topology of docker/compose.scale.yaml, so what runs here is what is
deployed. nginx tries the next node at once when one refuses a connection (`proxy_next_upstream`) and leaves
a failed node alone for a few seconds. MinIO's NATS target takes one address, the same on every node (MinIO
refuses to form a cluster whose nodes' MINIO_* settings differ), so it gets the TCP front: whichever NATS node
answers; the NATS client then learns the whole cluster from it. nginx runs as one process (no master and
workers), so a SIGKILL of it or of `up` leaves nothing listening.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Longer than MinIO keeps a dead node's lock on a key (lockValidityDuration and lockMaintenanceInterval, one
# minute each, in cmd/lock-rest-server.go): measured here, 116 s for a PUT behind a killed node's read.
STALE_LOCK_S = 150

# Debian's nginx loads its stream module (package libnginx-mod-stream) from here.
STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")
NGINX = Path("/usr/sbin/nginx")
MISSING = (
    "Debian's nginx and its stream module are needed for --cluster: run scripts/setup.sh --cluster (it "
    "installs them with apt: nginx libnginx-mod-stream)"
)


@dataclass(frozen=True)
class Front:
    s3_port: int
    console_port: int
    nats_port: int
    minio_nodes: tuple[tuple[int, int], ...]  # (API port, console port) of each MinIO node
    nats_nodes: tuple[int, ...]  # client port of each NATS node


def config(front: Front, home: Path) -> str:
    """nginx.conf for `front`; `home` holds its pid and temporary files (its logs go to stderr)."""
    s3 = "\n".join(f"    server 127.0.0.1:{api} max_fails=1 fail_timeout=5s;" for api, _ in front.minio_nodes)
    consoles = "\n".join(f"    server 127.0.0.1:{console};" for _, console in front.minio_nodes)
    nats = "\n".join(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in front.nats_nodes)
    temp = "\n".join(
        f"  {kind}_temp_path {home / 'tmp' / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""load_module {STREAM_MODULE};
daemon off;
master_process off;
pid {home / "nginx.pid"};
error_log stderr warn;
events {{ worker_connections 4096; }}

http {{
  access_log off;
{temp}
  upstream minio_s3 {{
    least_conn;
{s3}
    keepalive 64;
  }}
  upstream minio_console {{
    ip_hash;
{consoles}
  }}
  server {{
    listen 127.0.0.1:{front.s3_port};
    client_max_body_size 0;          # multipart uploads of any size
    proxy_request_buffering off;
    proxy_buffering off;
    location / {{
      proxy_set_header Host $http_host;   # MinIO checks the signature against the host the client signed
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_connect_timeout 2s;
      # MinIO holds a request on a key whose lock a killed node held until that lock expires (up to 2 min: locks
      # not refreshed for a minute go, checked once a minute). Cutting it sooner answers 504 for a write that
      # may still land; a client that cannot wait has its own timeout (the components' is 10 s).
      proxy_read_timeout {STALE_LOCK_S}s;
      proxy_send_timeout {STALE_LOCK_S}s;
      # A node that refuses or drops the connection: the next one. Not on 503: MinIO says so for the whole
      # cluster (quorum, slow down), and counting it would take every node out of the rotation.
      proxy_next_upstream error timeout http_502;
      proxy_pass http://minio_s3;
    }}
  }}
  server {{
    listen 127.0.0.1:{front.console_port};
    location / {{
      proxy_set_header Host $http_host;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_pass http://minio_console;
    }}
  }}
}}

stream {{
  upstream nats {{
{nats}
  }}
  server {{
    listen 127.0.0.1:{front.nats_port};
    proxy_connect_timeout 1s;
    proxy_pass nats;
  }}
}}
"""


def write(front: Front, home: Path) -> Path:
    home = home.resolve()
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (home / "tmp" / kind).mkdir(parents=True, exist_ok=True)
    path = home / "nginx.conf"
    path.write_text(config(front, home))
    return path


def available() -> bool:
    return NGINX.exists() and STREAM_MODULE.exists()


def argv(conf: Path) -> list[str]:
    # -e: its early errors to stderr too (the default error log path may not be writable).
    return [str(NGINX), "-e", "stderr", "-p", str(conf.parent), "-c", str(conf)]
