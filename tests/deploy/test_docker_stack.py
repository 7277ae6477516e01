"""docker/compose.yaml as the course deploys it: every image built by Docker, the stack started by
docker-compose, photos through the web container and `mc cp`, a restart of the classifier mid-burst, `down`
then `up` again. Each service runs on the host's network on free loopback ports (never a Docker bridge);
the daemon started here is stopped here, and nothing of Docker's networking is left behind.

Warm (Docker's data dir kept, as between sessions on one machine) it finds every image built and takes
about 2 minutes. Cold (a new machine) it first makes the base images (debootstrap) and builds every image from
the registries: about 4 GB of wheels for the function, MinIO and mc compiled from source; measured with 7
other jobs on the 2 cores, 30 minutes and more, most of it MinIO's compilation."""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from gourmetgram import names
from gourmetgram.settings import Settings
from gourmetgram.store import Store
from gourmetgram_tools.client import Dropped, drop, post_photo
from gourmetgram_tools.local import free_ports
from tests.conftest import FIXTURES, PHOTOS, ROOT
from tests.deploy import docker_here
from tests.deploy.hostnet import Ports, on_host_network
from tests.stack import production_objects, wait_final, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

DOCKER_DIR = ROOT / "docker"
PROJECT = "ggdeploytest"
COMPOSE_SOURCE = yaml.safe_load((DOCKER_DIR / "compose.yaml").read_text())
# Each image of compose.yaml, once (minio-init and web share one), with its Dockerfile.
IMAGES = {svc["image"]: svc["build"]["dockerfile"] for svc in COMPOSE_SOURCE["services"].values() if "build" in svc}
TAGS = {"predicted_class", "confidence", "timestamp", "model_version", "source"}


def env_file(path: Path, model_dir: Path) -> dict[str, str]:
    """docker/.env.example with every secret replaced, as an operator does."""
    values = {}
    for line in (DOCKER_DIR / ".env.example").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = secrets.token_urlsafe(24) if "PASSWORD" in key or "TOKEN" in key else value
    values.update(
        WEB_ALLOWED_HOSTS="localhost",
        MODEL_DIR=str(model_dir),
        MODEL_PATH="/models/food11.pth",
        COMPOSE_PROJECT_NAME=PROJECT,
    )
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return values


@dataclass
class Deployment:
    compose_file: Path
    env_path: Path
    env: dict[str, str]
    ports: Ports
    timings: dict[str, float]
    started: float = 0.0  # when `docker-compose up` was run (time.monotonic)

    def compose(self, *args: str, timeout: float = 600) -> str:
        return docker_here.run(
            "docker-compose",
            "--env-file",
            str(self.env_path),
            "-p",
            PROJECT,
            "-f",
            str(self.compose_file),
            *args,
            timeout=timeout,
        ).stdout

    @property
    def settings(self) -> Settings:
        """MinIO's root identity, for looking at what the stack stored."""
        return Settings(
            minio_url=f"http://127.0.0.1:{self.ports.minio}",
            minio_user=self.env["MINIO_USER"],
            minio_password=self.env["MINIO_PASSWORD"],
        )

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.web}"

    def container(self, service: str) -> str:
        found = docker_here.docker(
            "ps",
            "-aq",
            "--filter",
            f"label=com.docker.compose.project={PROJECT}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        ).split()
        assert len(found) == 1, f"{service}: containers {found}"
        return found[0]

    def state(self, service: str) -> dict:
        return json.loads(docker_here.docker("inspect", "--format", "{{json .State}}", self.container(service)))

    def wait_healthy(self, timeout: float = 240) -> None:
        """Every healthcheck passes and minio-init (configure) has finished, successfully."""

        def ready() -> bool:
            init = self.state("minio-init")
            assert not (init["Status"] == "exited" and init["ExitCode"] != 0), self.logs("minio-init")
            healthy = all(
                self.state(s).get("Health", {}).get("Status") == "healthy" for s in ("minio", "classifier", "web")
            )
            return healthy and init["Status"] == "exited"

        try:
            wait_until(ready, timeout, "every healthcheck of the stack", interval=1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n" + "\n".join(self.logs(s) for s in ("minio", "classifier", "web"))) from exc

    def logs(self, service: str) -> str:
        done = subprocess.run(
            [docker_here.DOCKER, "logs", "--tail", "40", self.container(service)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return f"--- {service}\n{done.stdout}{done.stderr}"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("docker")
    with docker_here.docker_daemon(workdir) as started:
        yield started
    if started is not None:  # stopped by its pid: nothing of Docker's networking may remain
        assert docker_here.bridge_interfaces() == []
        assert docker_here.docker_rules() == []


@pytest.fixture(scope="module")
def images(daemon) -> dict[str, float]:
    """Every image of compose.yaml, built by `docker build`; the seconds each took (cold or cached)."""
    timings = {}
    started = time.monotonic()
    docker_here.ensure_base_images()
    timings["base images"] = time.monotonic() - started
    logs = ROOT / "test-artifacts"
    logs.mkdir(exist_ok=True)
    # Two at a time: the Go images mostly compile (CPU), the Python ones mostly download and unpack.
    go_images = {image for image, dockerfile in IMAGES.items() if "minio" in dockerfile}
    errors: list[BaseException] = []

    def build(images: list[str]) -> None:
        try:
            for image in images:
                timings[image] = docker_here.build_image(ROOT, IMAGES[image], image, logs / f"docker-build-{image}.log")
        except BaseException as exc:  # noqa: BLE001 (reported below, in the test's thread)
            errors.append(exc)

    builders = [
        threading.Thread(target=build, args=([i for i in IMAGES if (i in go_images) == go],)) for go in (True, False)
    ]
    for builder in builders:
        builder.start()
    for builder in builders:
        builder.join()
    if errors:
        raise errors[0]
    sizes = {image: int(docker_here.docker("image", "inspect", "--format", "{{.Size}}", image)) for image in IMAGES}
    (logs / "docker-images.json").write_text(json.dumps({"build_s": timings, "size_bytes": sizes}, indent=1))
    return timings


@pytest.fixture(scope="module")
def deployment(images, tmp_path_factory) -> Deployment:
    workdir = tmp_path_factory.mktemp("compose")
    model_dir = workdir / "models"
    model_dir.mkdir()
    shutil.copy(FIXTURES / "food11_full.pth", model_dir / "food11.pth")
    for path in (workdir, model_dir):  # the containers' users are not root
        path.chmod(0o755)
    (model_dir / "food11.pth").chmod(0o644)
    ports = Ports(*free_ports(4))
    compose_file = workdir / "compose.hostnet.yaml"
    compose_file.write_text(yaml.safe_dump(on_host_network(COMPOSE_SOURCE, ports), sort_keys=False))
    env_path = workdir / ".env"
    deployment = Deployment(compose_file, env_path, env_file(env_path, model_dir), ports, {})
    deployment.compose("down", "--volumes", "--remove-orphans")  # whatever an interrupted run left
    started = deployment.started = time.monotonic()
    try:
        deployment.compose("up", "-d", "--no-build")
        deployment.wait_healthy()
        deployment.timings["up"] = time.monotonic() - started
        yield deployment
    finally:
        deployment.compose("down", "--volumes", "--remove-orphans")
        assert docker_here.networks() <= {"host", "none"}


@pytest.fixture(scope="module")
def store(deployment) -> Store:
    return Store.connect(deployment.settings)


def assert_labelled(store: Store, record: dict, source: str) -> None:
    assert record["status"] == "done", record
    [key] = production_objects(store, record["id"])
    tags = store.get_tags("production", key)
    assert set(tags) == TAGS, tags
    assert tags["source"] == source and tags["predicted_class"] == names.class_name(record["class_index"])


def mc_cp(deployment: Deployment, tmp: Path, source: Path, key: str) -> Dropped:
    """`mc cp` of one file into incoming, as an operator drops photos (the mc that scripts/setup.sh built)."""
    mc = str(Settings().tools_dir / "mc")
    env = {"MC_CONFIG_DIR": str(tmp / "mc"), "PATH": "/usr/bin:/bin"}
    s = deployment.settings
    docker_here.run(mc, "alias", "set", "deploy", s.minio_url, s.minio_user, s.minio_password, env=env)
    started = time.time()
    docker_here.run(mc, "cp", "--quiet", str(source), f"deploy/incoming/{key}", env=env)
    return Dropped("incoming", key, hashlib.md5(source.read_bytes()).hexdigest(), started, time.time())


def test_every_service_is_healthy_runs_as_no_root_and_the_console_answers(deployment):
    for service in ("minio", "minio-init", "classifier", "web"):
        container = deployment.container(service)
        user = docker_here.docker("inspect", "--format", "{{.Config.User}}", container).strip()
        assert user and user.split(":")[0] not in ("0", "root"), f"{service} runs as {user!r}"
        if service == "minio-init":
            assert deployment.state(service)["ExitCode"] == 0
            continue
        pids = docker_here.docker("top", container, "-eo", "pid").split()[1:]
        assert pids
        for pid in pids:  # every process of the container, as the kernel sees it
            uid = next(
                line.split()[1]
                for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if line.startswith("Uid:")
            )
            assert uid != "0", f"{service}'s process {pid} runs as root"
    with urllib.request.urlopen(f"http://127.0.0.1:{deployment.ports.console}/", timeout=10) as r:
        assert r.status == 200 and b"MinIO" in r.read()


def test_the_event_log_opens_for_the_operator_with_the_review_token_only(deployment):
    url = f"{deployment.web_url}/review/api/events?limit=5"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    refused.value.close()  # an HTTPError holds the answer's socket
    assert refused.value.code == 401
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {deployment.env['REVIEW_TOKEN']}"})
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 200 and isinstance(json.loads(r.read()), list)


def test_the_frontend_image_has_no_torch_and_draws_its_charts(deployment):
    check = "import importlib.util as u, gourmetgram.quality_charts; print(u.find_spec('torch') is None)"
    out = docker_here.docker("exec", deployment.container("web"), "python", "-c", check)
    assert out.strip() == "True"


def test_a_web_upload_and_an_mc_cp_are_labelled_with_their_five_tags(deployment, store, tmp_path):
    accepted = post_photo(deployment.web_url, (PHOTOS / "7_226.jpg").read_bytes(), "rice.jpg")
    assert_labelled(store, wait_final(store, accepted["id"], timeout=120), "web")
    # What a person deploying waits for: from `docker-compose up` to a first photo labelled (images built).
    deployment.timings["up to a labelled photo"] = time.monotonic() - deployment.started
    (ROOT / "test-artifacts" / "docker-up.json").write_text(json.dumps(deployment.timings, indent=1))
    dropped = mc_cp(deployment, tmp_path, PHOTOS / "9_452.jpg", "dropped/by-mc.jpg")
    assert_labelled(store, wait_final(store, dropped, timeout=120), "bucket")


def test_restarting_the_classifier_mid_burst_loses_nothing(deployment, store):
    photos = sorted(PHOTOS.glob("*.jpg"))
    burst: list[Dropped] = []

    def drop_burst():
        for i in range(30):
            burst.append(drop(store, "incoming", f"burst/{i:02d}.jpg", photos[i % len(photos)].read_bytes()))
            time.sleep(0.1)

    dropper = threading.Thread(target=drop_burst)
    dropper.start()
    wait_until(lambda: len(burst) >= 10, 30, "a third of the burst")
    deployment.compose("restart", "classifier")
    dropper.join()
    deployment.wait_healthy()
    for photo in burst:
        assert_labelled(store, wait_final(store, photo, timeout=180), "bucket")
    wait_until(lambda: not list(store.list("incoming")), 60, "incoming emptied")


def test_down_then_up_keeps_every_photo_and_record(deployment, store):
    post_photo(deployment.web_url, (PHOTOS / "1_17.jpg").read_bytes(), "before.jpg")
    wait_until(lambda: not list(store.list("incoming")), 120, "incoming emptied")
    before = {bucket: sorted(o.key for o in store.list(bucket)) for bucket in ("production", "events")}
    assert before["production"] and before["events"]
    deployment.compose("down")
    deployment.compose("up", "-d", "--no-build")
    deployment.wait_healthy()
    after = {bucket: sorted(o.key for o in store.list(bucket)) for bucket in ("production", "events")}
    assert after == before
    records = [pid for pid in (key.removesuffix(".json") for key in after["events"]) if names.is_prediction_id(pid)]
    assert records and all(wait_final(store, pid, timeout=10)["status"] == "done" for pid in records)
