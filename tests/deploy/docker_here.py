"""Docker on a machine like CI's (root, no systemd, no Docker Hub, no network but the package registries):
Debian's docker.io, a daemon that makes no bridge and no iptables rule, base images made without the hub.
The steps of /work/shared/notes/docker-here.md, as code the deployment test runs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

# Debian's client, never another `docker` earlier on PATH: a newer CLI hands `docker build` to buildx,
# which Debian's docker.io does not ship.
DOCKER = "/usr/bin/docker"
DOCKERD = "/usr/sbin/dockerd"
DEBOOTSTRAP = "/usr/sbin/debootstrap"
SOCKET = Path("/var/run/docker.sock")
# What the Dockerfiles name (docker/*.Dockerfile: BASE and GO_IMAGE).
DEBIAN_IMAGE = "debian:bookworm-slim"
GO_IMAGE = "golang:1.26-bookworm"
LOCAL_GO = Path("/usr/local/go")
# The machine's CA bundle, passed to builds as the optional `cacert` secret (docker/*.Dockerfile).
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# No bridge (its addresses are a private range these machines must not send to) and no iptables rule:
# every container runs on the host's network, on loopback ports.
DAEMON_CONFIG = {"bridge": "none", "iptables": False, "ip6tables": False}


def run(*args: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)
    if done.returncode != 0:
        raise AssertionError(
            f"{' '.join(args[:4])}... exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done


def docker(*args: str, timeout: float = 600, **kwargs) -> str:
    return run(DOCKER, *args, timeout=timeout, **kwargs).stdout


def install_packages() -> None:
    """Debian's docker.io (with docker-compose 1.29's Docker) and debootstrap, when missing
    (scripts/setup.sh --test-tools installs them; a machine set up before it did may lack them)."""
    missing = [pkg for pkg, path in (("docker.io", DOCKERD), ("debootstrap", DEBOOTSTRAP)) if not Path(path).exists()]
    if not missing:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run("apt-get", "update", "-qq", env=env)
    run("apt-get", "install", "-y", "-qq", *missing, env=env)


def daemon_answers() -> bool:
    if not Path(DOCKER).exists():
        return False
    return subprocess.run([DOCKER, "info"], capture_output=True, timeout=30).returncode == 0


@contextmanager
def docker_daemon(workdir: Path):
    """A Docker daemon for the test: the one already running, or one started here (and stopped by its own
    pid at the end). Images and the build cache stay in /var/lib/docker, so a later run builds warm."""
    if daemon_answers():
        yield None
        return
    install_packages()
    if daemon_answers():  # the package's own start script, where one ran
        yield None
        return
    config = workdir / "daemon.json"
    config.write_text(json.dumps(DAEMON_CONFIG))
    log = (workdir / "dockerd.log").open("w")
    daemon = subprocess.Popen([DOCKERD, "--config-file", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not daemon_answers():
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"dockerd did not start:\n{(workdir / 'dockerd.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield daemon
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()


def has_image(name: str) -> bool:
    return subprocess.run([DOCKER, "image", "inspect", name], capture_output=True, timeout=60).returncode == 0


def debian_mirror() -> str:
    """The machine's own Debian mirror (the only one it reaches), from its apt sources."""
    for source in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        text = source.read_text() if source.is_file() else ""
        for match in re.finditer(r"(?:^URIs:\s*|^deb\s+(?:\[[^]]*\]\s+)?)(\S+/debian)/?\s", text, re.M):
            return match.group(1)
    return "http://deb.debian.org/debian"


def import_tree(tree: Path, tag: str, *changes: str) -> None:
    tar = subprocess.Popen(["tar", "-C", str(tree), "-c", "."], stdout=subprocess.PIPE)
    run(DOCKER, "import", *(f"--change={c}" for c in changes), "-", tag, stdin=tar.stdout)
    assert tar.wait() == 0


def make_base_images() -> None:
    """debian:bookworm-slim and golang:1.26-bookworm without Docker Hub: a minimal bookworm tree made by
    debootstrap, imported; then the same tree with a copy of this machine's Go 1.26 (Debian's own golang-go
    is 1.19, too old for MinIO and nats-server)."""
    version = run(str(LOCAL_GO / "bin" / "go"), "version").stdout
    assert re.search(r"go1\.26(\.|\s)", version), f"{GO_IMAGE} wants Go 1.26, {LOCAL_GO} has {version}"
    with tempfile.TemporaryDirectory(prefix="bookworm-") as tree:
        run(DEBOOTSTRAP, "--variant=minbase", "bookworm", tree, debian_mirror(), timeout=900)
        if not has_image(DEBIAN_IMAGE):
            import_tree(Path(tree), DEBIAN_IMAGE)
        if not has_image(GO_IMAGE):
            shutil.copytree(LOCAL_GO, Path(tree) / "usr" / "local" / "go", symlinks=True)
            import_tree(
                Path(tree),
                GO_IMAGE,
                "ENV PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )


def buildkit_env() -> dict[str, str]:
    return {**os.environ, "DOCKER_BUILDKIT": "1"}


def build_args() -> list[str]:
    """Builds reach the registries over the host's network, trusting this machine's CA bundle."""
    return ["--network", "host", "--secret", f"id=cacert,src={CA_BUNDLE}"]


def ensure_base_images() -> None:
    if not (has_image(DEBIAN_IMAGE) and has_image(GO_IMAGE)):
        make_base_images()


def build_image(root: Path, dockerfile: str, tag: str, log: Path) -> float:
    """`docker build` of one image of the compose file (docker-compose 1.29 cannot pass build secrets);
    returns the seconds it took."""
    started = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(
            [DOCKER, "build", *build_args(), "--progress", "plain", "-f", str(root / dockerfile), "-t", tag, str(root)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=buildkit_env(),
            timeout=3600,
        )
    assert done.returncode == 0, f"building {tag} failed:\n{log.read_text()[-4000:]}"
    return time.monotonic() - started


def networks() -> set[str]:
    return set(docker("network", "ls", "--format", "{{.Name}}").split())


def docker_rules() -> list[str]:
    """Every iptables rule or chain that names Docker (none may be left behind)."""
    rules = []
    for tool in ("iptables-save", "ip6tables-save"):
        if shutil.which(tool):
            done = subprocess.run([tool], capture_output=True, text=True, timeout=60)
            rules += [line for line in done.stdout.splitlines() if "docker" in line.lower()]
    return rules


def bridge_interfaces() -> list[str]:
    return [p.name for p in Path("/sys/class/net").iterdir() if p.name == "docker0" or p.name.startswith("br-")]
