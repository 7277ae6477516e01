"""The deployment files agree with the code: names, ports, images, commands. No Docker engine needed."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from gourmetgram import names
from gourmetgram.settings import FrontendSettings, FunctionSettings, Settings
from gourmetgram_tools import front
from gourmetgram_tools.commands import main as cli
from minio_config.desired import nats_env, webhook_env
from tests.conftest import ROOT, in_ci

DOCKER = ROOT / "docker"
COMPOSE_FILES = ["compose.yaml", "compose.scale.yaml"]
APP_SERVICES = {"minio-init", "classifier", "web"}
DEFAULTS = Settings()


def load(name: str) -> dict:
    return yaml.safe_load((DOCKER / name).read_text())


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    return dict(env) if isinstance(env, dict) else dict(e.split("=", 1) for e in env)


def referenced_variables(text: str) -> set[str]:
    return set(re.findall(r"\$\{([A-Z_]+)", text))


def env_example() -> dict[str, str]:
    lines = (DOCKER / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


@pytest.fixture(params=COMPOSE_FILES)
def compose(request) -> tuple[str, dict]:
    return request.param, load(request.param)


# Who may reach the NATS nodes in the scale-out file: those that publish, configure or consume the stream.
ON_THE_EVENTS_NETWORK = {"minio1", "minio2", "minio3", "minio4", "minio-init", "classifier"}


def test_on_the_course_network(compose):
    name_of_file, doc = compose
    assert doc["networks"]["production_net"]["external"] is True
    for name, service in doc["services"].items():
        networks = list(service["networks"])  # a list, or a mapping where a service needs aliases there
        if re.fullmatch(r"nats\d", name):
            assert networks == ["events_net"], name  # never on the network the frontend is on
        elif name in ON_THE_EVENTS_NETWORK and name_of_file == "compose.scale.yaml":
            assert networks == ["production_net", "events_net"], name
        else:
            assert networks == ["production_net"], name


def test_the_frontend_cannot_reach_nats_and_the_events_network_is_internal():
    doc = load("compose.scale.yaml")
    assert doc["networks"]["events_net"] == {"internal": True}
    assert "events_net" not in doc["services"]["web"]["networks"]
    reachable = {n for n, svc in doc["services"].items() if "events_net" in svc["networks"]}
    assert reachable == ON_THE_EVENTS_NETWORK | {"nats1", "nats2", "nats3"}


# What each service runs reads its part's settings only: configure all of them, the others their own.
PART_SETTINGS = {"minio-init": Settings, "classifier": FunctionSettings, "web": FrontendSettings}


def test_app_services_use_only_their_part_s_settings_names(compose):
    _, doc = compose
    for name in APP_SERVICES:
        known = set(PART_SETTINGS[name].env_names().values())
        unknown = set(env_of(doc["services"][name])) - known
        assert not unknown, f"{name} sets {unknown}, which {PART_SETTINGS[name].__name__} never reads"


def minio_nodes(doc: dict) -> list[dict]:
    return [s for s in doc["services"].values() if "build" in s and "minio.Dockerfile" in s["build"]["dockerfile"]]


def test_minio_gets_exactly_the_target_of_the_transport_the_code_expects(compose):
    name, doc = compose
    nodes = minio_nodes(doc)
    assert nodes
    for node in nodes:
        env = env_of(node)
        if name == "compose.yaml":  # the webhook, durable on a queue that survives restarts
            assert set(webhook_env(DEFAULTS, "/queue")) <= set(env)
            assert env["MINIO_NOTIFY_WEBHOOK_ENDPOINT_GOURMETGRAM"].endswith("/minio/events")
            assert env["MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_GOURMETGRAM"].startswith("/")  # MinIO wants it absolute
            assert any(v.endswith(":/queue") for v in node["volumes"])
        else:  # every node publishes to the stream, with exactly the names the code uses
            wanted = nats_env(DEFAULTS, "nats:4222")
            assert set(wanted) <= set(env) and not any("WEBHOOK" in k for k in env)
            for key in ("ADDRESS", "SUBJECT", "JETSTREAM", "ENABLE"):
                variable = f"MINIO_NOTIFY_NATS_{key}_{names.TARGET_ID}"
                assert env[variable] == wanted[variable], variable
            assert env[f"MINIO_NOTIFY_NATS_TOKEN_{names.TARGET_ID}"].startswith("${NATS_TOKEN:?")


def test_ports_and_urls_match_the_defaults(compose):
    _, doc = compose
    services = doc["services"]
    assert f"{DEFAULTS.web_port}:{DEFAULTS.web_port}" in services["web"]["ports"]
    assert env_of(services["classifier"])["FUNCTION_PORT"] == str(DEFAULTS.function_port)
    minio_front = services["minio"]
    assert {f"{DEFAULTS.minio_port}:9000", f"{DEFAULTS.console_port}:9001"} <= set(minio_front["ports"])
    for name in APP_SERVICES:
        env = env_of(services[name])
        assert env["MINIO_URL"] == "http://minio:9000"
        if name != "classifier":  # the frontend (its nudges) and configure (the webhook's target) read it
            host = re.match(r"http://([^:]+):", env.get("FUNCTION_URL", DEFAULTS.function_url)).group(1)
            assert host in services or env.get("EVENT_TRANSPORT") == "jetstream"
    assert "FUNCTION_URL" in env_of(services["web"]) and "FUNCTION_URL" not in env_of(services["classifier"])


def test_healthchecks_use_the_health_endpoints(compose):
    _, doc = compose
    services = doc["services"]
    assert "/readyz" in " ".join(services["classifier"]["healthcheck"]["test"])
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])


def test_no_default_passwords_and_every_variable_in_env_example(compose):
    name, _ = compose
    text = (DOCKER / name).read_text()
    assert referenced_variables(text) <= set(env_example())
    secrets = [
        "MINIO_USER",
        "MINIO_PASSWORD",
        "WEBHOOK_TOKEN",
        "FUNCTION_MINIO_PASSWORD",
        "WEB_MINIO_PASSWORD",
        "NUDGE_TOKEN",
        "REVIEW_TOKEN",
    ] + (["NATS_TOKEN"] if name == "compose.scale.yaml" else [])
    for secret in secrets:
        uses = re.findall(r"\$\{" + secret + r"([^}]*)\}", text)
        assert uses and all(u.startswith(":?") for u in uses), f"{secret} must be required, never defaulted"


def test_the_frontend_answers_only_to_the_names_set_in_env(compose):
    # GIVEN the web service: it must get its host names from docker/.env (no default: only the operator knows
    # the names browsers use), and the documented value must keep the DNS-rebinding protection
    _, doc = compose
    web = doc["services"]["web"]
    assert env_of(web)["WEB_ALLOWED_HOSTS"].startswith("${WEB_ALLOWED_HOSTS:?")
    allowed = Settings.from_env({"WEB_ALLOWED_HOSTS": env_example()["WEB_ALLOWED_HOSTS"]}).allowed_web_hosts
    assert "*" not in allowed and len(allowed) > 3  # the example names a host besides the loopback ones
    # AND the healthcheck's own Host is one of them
    healthcheck_host = re.search(r"http://([^:/]+)", " ".join(web["healthcheck"]["test"])).group(1)
    assert healthcheck_host in allowed


# The variables of docker/.env that grant something, and who may hold each (per file: the webhook or the stream).
CREDENTIALS = {
    "MINIO_USER",
    "MINIO_PASSWORD",
    "FUNCTION_MINIO_PASSWORD",
    "WEB_MINIO_PASSWORD",
    "WEBHOOK_TOKEN",
    "NUDGE_TOKEN",
    "NATS_TOKEN",
    "REVIEW_TOKEN",
}
HOLDERS = {
    "minio-node": {"MINIO_USER", "MINIO_PASSWORD", "WEBHOOK_TOKEN"},  # its root user and the token its events carry
    "minio-init": {"MINIO_USER", "MINIO_PASSWORD", "FUNCTION_MINIO_PASSWORD", "WEB_MINIO_PASSWORD"},
    "classifier": {"FUNCTION_MINIO_PASSWORD", "WEBHOOK_TOKEN", "NUDGE_TOKEN"},
    "web": {"WEB_MINIO_PASSWORD", "NUDGE_TOKEN", "REVIEW_TOKEN"},  # the operator pages' password too
}
SCALE_HOLDERS = {
    "minio-node": {"MINIO_USER", "MINIO_PASSWORD", "NATS_TOKEN"},  # root, and the token it publishes with
    "nats-node": {"NATS_TOKEN"},
    "minio-init": HOLDERS["minio-init"] | {"NATS_TOKEN"},  # it creates the stream and its consumer
    "classifier": HOLDERS["classifier"] | {"NATS_TOKEN"},  # it consumes; the webhook door keeps its own token
    "web": HOLDERS["web"],  # never NATS_TOKEN: the frontend has no business with the stream
}


def role(name: str, service: dict) -> str:
    if "build" in service and "minio.Dockerfile" in service["build"]["dockerfile"]:
        return "minio-node"
    if "build" in service and "nats.Dockerfile" in service["build"]["dockerfile"]:
        return "nats-node"
    return name


def test_each_service_holds_only_its_own_credentials(compose):
    name, doc = compose
    holders = HOLDERS if name == "compose.yaml" else SCALE_HOLDERS
    for service_name, service in doc["services"].items():
        held = referenced_variables(" ".join(env_of(service).values())) & CREDENTIALS
        assert held == holders.get(role(service_name, service), set()), f"{service_name} holds {sorted(held)}"


def test_the_root_password_stays_with_minio_and_configure(compose):
    _, doc = compose
    for name, service in doc["services"].items():
        for value in env_of(service).values():
            if "${MINIO_PASSWORD" in value:
                assert role(name, service) in ("minio-node", "minio-init"), f"{name} gets the root password"
    assert "WEBHOOK_TOKEN" not in env_of(doc["services"]["web"])


def test_the_components_run_as_the_identities_configure_creates(compose):
    _, doc = compose
    services = doc["services"]
    configure = env_of(services["minio-init"])
    assert configure["MINIO_PASSWORD"].startswith("${MINIO_PASSWORD:?")
    for service, component in (("classifier", "FUNCTION"), ("web", "WEB")):
        env = env_of(services[service])
        # the user name is the one configure creates (a fixed value of Settings)
        assert env["MINIO_USER"] == getattr(DEFAULTS, f"{component.lower()}_minio_user")
        assert env["MINIO_PASSWORD"] == configure[f"{component}_MINIO_PASSWORD"]
        assert env["MINIO_PASSWORD"].startswith(f"${{{component}_MINIO_PASSWORD:?")
        assert env["NUDGE_TOKEN"].startswith("${NUDGE_TOKEN:?")


def test_the_model_is_mounted_read_only_where_model_path_points(compose):
    _, doc = compose
    classifier = doc["services"]["classifier"]
    model_path = Path(re.sub(r"\$\{MODEL_PATH-([^}]*)\}", r"\1", env_of(classifier)["MODEL_PATH"]))
    assert any(v.endswith(f":{model_path.parent}:ro") for v in classifier["volumes"])


def test_commands_are_real_cli_commands(compose):
    _, doc = compose
    assert doc["services"]["minio-init"]["command"] == ["gourmetgram", "configure"]
    for dockerfile in DOCKER.glob("*.Dockerfile"):
        for cmd in re.findall(r'^CMD \["gourmetgram", "([a-z-]+)"', dockerfile.read_text(), re.M):
            assert cmd in cli.commands, f"{dockerfile.name} runs unknown command {cmd}"


def test_scale_out_has_four_minio_nodes_three_nats_nodes_and_consumers_without_a_balancer():
    doc = load("compose.scale.yaml")
    services = doc["services"]
    assert len([n for n in services if re.fullmatch(r"minio\d", n)]) == 4
    assert services["minio1"]["command"][1] == "http://minio{1...4}/data{1...2}"
    nats_nodes = [n for n in services if re.fullmatch(r"nats\d", n)]
    assert nats_nodes == ["nats1", "nats2", "nats3"]
    for node in nats_nodes:  # reachable as one name (MinIO's single NATS address), with a store of its own
        assert services[node]["networks"]["events_net"]["aliases"] == ["nats"]
        assert any(v.endswith(":/data") for v in services[node]["volumes"])
        assert env_of(services[node])["NATS_SERVER_NAME"] == node
    conf = (DOCKER / "nats.conf").read_text()
    assert "sync_interval: always" in conf and "token: $GOURMETGRAM_NATS_TOKEN" in conf
    assert all(f"nats-route://{node}:6222" in conf for node in nats_nodes)
    # the classifiers consume the stream: several replicas, every NATS node known, nothing in front of them
    classifier = env_of(services["classifier"])
    assert services["classifier"]["deploy"]["replicas"] >= 2
    assert classifier["EVENT_TRANSPORT"] == "jetstream"
    assert Settings.from_env({"NATS_URL": classifier["NATS_URL"]}).nats_servers == [
        f"nats://{node}:4222" for node in nats_nodes
    ]
    assert "classifier-lb" not in services and not (DOCKER / "nginx-classifier.conf").exists()
    assert re.match(r"http://classifier:", env_of(services["web"])["FUNCTION_URL"])  # the frontend's nudge: any replica
    # configure makes the stream replicated on the three nodes, after they are healthy
    init = services["minio-init"]
    assert env_of(init)["NATS_REPLICAS"] == "3" and env_of(init)["EVENT_TRANSPORT"] == "jetstream"
    assert {f"nats{i}" for i in (1, 2, 3)} <= set(init["depends_on"])


def test_the_deployed_front_door_waits_out_a_dead_nodes_lock_as_up_clusters_does():
    conf = (DOCKER / "nginx-minio.conf").read_text()
    for directive in ("proxy_read_timeout", "proxy_send_timeout"):
        assert f"{directive} {front.STALE_LOCK_S}s;" in conf
        assert f"{directive} {front.STALE_LOCK_S}s;" in front.config(
            front.Front(9000, 9001, 4222, ((1, 2),), (3,)), Path("/x")
        )


def test_the_nats_image_builds_the_version_setup_pins():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    pinned = re.search(r'^NATS_VERSION="([^"]+)"', setup, re.M).group(1)
    dockerfile = (DOCKER / "nats.Dockerfile").read_text()
    assert f"ARG NATS_VERSION={pinned}" in dockerfile
    assert "go install github.com/nats-io/nats-server/v2@${NATS_VERSION}" in dockerfile
    assert 'go_tool nats-server github.com/nats-io/nats-server/v2 "$NATS_VERSION"' in setup


def test_minio_image_builds_the_versions_setup_pins():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    dockerfile = (DOCKER / "minio.Dockerfile").read_text()
    for name in ("MINIO_VERSION", "MC_VERSION"):
        pinned = re.search(rf'^{name}="([^"]+)"', setup, re.M).group(1)
        assert f"ARG {name}={pinned}" in dockerfile
    assert "go install github.com/minio/minio@${MINIO_VERSION}" in dockerfile


def pins(text: str) -> set[str]:
    return set(re.findall(r"([a-z][a-z0-9_-]*==[0-9][0-9.]*)", text))


def test_python_images_pin_what_pyproject_pins():
    # GIVEN the project's pinned dependencies
    import tomllib

    wanted = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    torch = {pin for pin in wanted if pin.startswith("torch==")}
    # THEN the function installs exactly them, the frontend all but torch (a small image)
    assert pins((DOCKER / "function.Dockerfile").read_text()) == wanted
    assert pins((DOCKER / "web.Dockerfile").read_text()) == wanted - torch and torch


DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfiles_build_without_docker_hubs_extras_and_run_as_no_root(dockerfile):
    text = dockerfile.read_text()
    # no `# syntax=` line: BuildKit would fetch that frontend from Docker Hub
    assert not re.search(r"^#\s*syntax=", text, re.M | re.I)
    # every base is a build argument whose default exists on Docker Hub and is made offline by the deploy test
    from tests.deploy.docker_here import DEBIAN_IMAGE, GO_IMAGE

    for base in re.findall(r"^FROM (\S+)", text, re.M):
        arg = re.fullmatch(r"\$\{(\w+)\}", base)
        assert arg, f"{dockerfile.name}: FROM {base} is no build argument"
        assert re.search(rf"^ARG {arg.group(1)}=({DEBIAN_IMAGE}|{GO_IMAGE})$", text, re.M)
    # every step that reaches PyPI or the Go proxy may be given a CA bundle, and builds without one
    for step in re.findall(r"^RUN .*?(?<!\\)$", text.replace("\\\n", " "), re.M):
        if re.search(r"\b(pip|go) install\b", step):
            assert "--mount=type=secret,id=cacert" in step and "[ -f /run/secrets/cacert ]" in step, step
    # the last stage runs as a numbered user that is not root
    user = re.findall(r"^USER (\S+)$", text.split("\nFROM ")[-1], re.M)
    assert user and re.fullmatch(r"[1-9]\d*:[1-9]\d*", user[-1]), f"{dockerfile.name}: USER {user}"
    # the build context (the repository's root) sends only what the image needs, never .venv
    ignore = Path(f"{dockerfile}.dockerignore").read_text().splitlines()
    assert "*" in ignore and not any(line.lstrip("!").startswith(".venv") for line in ignore)
    # and a Python image gets every package of ours: one left out installs, then fails at the first import
    if "pip install" in text:
        include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
        packages = {
            p.parent.name
            for p in ROOT.glob("*/__init__.py")
            if any(fnmatch.fnmatch(p.parent.name, pattern) for pattern in include["include"])
        }
        assert packages and {f"!{name}" for name in packages} <= set(ignore), f"{dockerfile.name}: {sorted(packages)}"


def test_services_built_from_one_dockerfile_share_its_image(compose):
    _, doc = compose
    images: dict[str, str] = {}
    for name, service in doc["services"].items():
        if "build" in service:
            assert images.setdefault(service["build"]["dockerfile"], service["image"]) == service["image"], name


def test_the_web_image_installs_the_image_plugins_its_upload_check_imports():
    # the frontend identifies uploads with gourmetgram.images, which opens HEIC/HEIF through pillow-heif
    web = (DOCKER / "web.Dockerfile").read_text()
    imported = set(re.findall(r"^import (\w+)|^from (\w+)", (ROOT / "gourmetgram/images.py").read_text(), re.M))
    modules = {a or b for a, b in imported}
    assert "pillow_heif" in modules and "pillow-heif==" in web


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_docker_compose_accepts_the_file(name, tmp_path):
    binary = shutil.which("docker-compose")
    if binary is None:
        if in_ci():
            pytest.fail("docker-compose is missing: scripts/setup.sh --test-tools installs it")
        pytest.skip("docker-compose not installed")
    env = tmp_path / ".env"
    env.write_text((DOCKER / ".env.example").read_text())
    done = subprocess.run(
        [binary, "-f", str(DOCKER / name), "--env-file", str(env), "config", "-q"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    empty = tmp_path / "empty.env"
    empty.write_text("")
    refused = subprocess.run(
        [binary, "-f", str(DOCKER / name), "--env-file", str(empty), "config", "-q"], capture_output=True, text=True
    )
    # refused, naming the first secret it met (the scale-out file's NATS nodes come first: NATS_TOKEN)
    assert refused.returncode != 0 and re.search(r"set (MINIO_USER|NATS_TOKEN) in docker/.env", refused.stderr)


def test_the_function_image_sets_the_allocator_as_up_does():
    from gourmetgram_tools.spawn import FUNCTION_MALLOC_ENV

    dockerfile = (DOCKER / "function.Dockerfile").read_text().replace("\\\n", " ")
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(re.findall(r"^ENV (.*)$", dockerfile, re.M))))
    for name, value in FUNCTION_MALLOC_ENV.items():
        assert env.get(name) == value, f"function.Dockerfile sets {name}={env.get(name)}, up sets {value}"


def test_the_deploy_tests_host_network_variant_keeps_the_stack_and_reaches_only_loopback():
    # GIVEN compose.yaml as the deployment test (test_docker_stack.py) starts it, on four loopback ports
    from tests.deploy.hostnet import Ports, on_host_network

    doc = load("compose.yaml")
    moved = on_host_network(doc, Ports(minio=41001, console=41002, function=41003, web=41004))
    text = yaml.safe_dump(moved)
    # THEN no network, published port or service name remains: every URL, bind and healthcheck is loopback
    assert "networks" not in moved and "production_net" not in text
    assert not re.search(r"http://(minio|classifier)[:/]|localhost:|0\.0\.0\.0|:9000|:8080|:5000", text), text
    for name, service in moved["services"].items():
        assert service["network_mode"] == "host" and "ports" not in service and "build" not in service, name
        original = doc["services"][name]
        # AND the rest is compose.yaml's own: image, volumes, dependencies, users' identities, restart policy
        for key in ("image", "volumes", "depends_on", "restart"):
            assert service.get(key) == original.get(key), (name, key)
        assert set(env_of(service)) == set(env_of(original)), name
    minio = moved["services"]["minio"]
    assert minio["command"] == [
        "server",
        "/data",
        "--address",
        "127.0.0.1:41001",
        "--console-address",
        "127.0.0.1:41002",
    ]
    assert env_of(minio)["MINIO_NOTIFY_WEBHOOK_ENDPOINT_GOURMETGRAM"] == "http://127.0.0.1:41003/minio/events"
    assert "127.0.0.1:41001/minio/health/live" in " ".join(minio["healthcheck"]["test"])
    assert env_of(moved["services"]["web"])["WEB_PORT"] == "41004"
    assert env_of(moved["services"]["classifier"])["BIND_HOST"] == "127.0.0.1"
