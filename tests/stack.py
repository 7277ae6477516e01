"""A real MinIO (built by scripts/setup.sh), the real function and frontend, on free loopback ports."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from PIL import Image

from gourmetgram.settings import Settings
from gourmetgram.store import Store
from gourmetgram_tools.client import Dropped, wait_outcome
from gourmetgram_tools.local import LocalStack, free_port, on_loopback, stack_ports
from tests.conftest import FIXTURES, PHOTOS

AUDIT_ARN = "arn:minio:sqs::AUDIT:webhook"


def stack_settings(**overrides) -> Settings:
    base = on_loopback(Settings.from_env({}), free=True)  # never the developer's environment
    return base.replace(
        **{
            "model_path": FIXTURES / "food11_full.pth",
            "reconcile_interval_s": 2.0,
            "reconcile_grace_s": 3.0,
            # The reference model's logits are the exact decode's (test_pipeline checks them on the real stack).
            "claim_ttl_s": 20.0,
            "decode": "exact",
            **overrides,
        }
    )


def start_stack(tmp: Path, settings: Settings | None = None, **kwargs) -> LocalStack:
    settings = settings or stack_settings()
    stack = LocalStack(
        settings,
        tmp,
        minio_env={
            # A second, unrelated target: configure must leave its subscriptions alone.
            "MINIO_NOTIFY_WEBHOOK_ENABLE_AUDIT": "on",
            "MINIO_NOTIFY_WEBHOOK_ENDPOINT_AUDIT": f"http://127.0.0.1:{free_port(stack_ports(settings))}/audit",
        },
        **kwargs,
    )
    try:
        return stack.start()
    except Exception:
        stack.stop_all(kill=True)
        raise


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("stack"))
    yield stack
    stack.stop_all()


@pytest.fixture(scope="session")
def store(stack) -> Store:
    return Store.connect(stack.settings)


def s3_client(s: Settings):
    """A plain boto3 client, to drop objects the way other S3 tools do (multipart included)."""
    return boto3.client(
        "s3",
        endpoint_url=s.minio_url,
        aws_access_key_id=s.minio_user,
        aws_secret_access_key=s.minio_password,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required"),
    )


@pytest.fixture(scope="session")
def s3(stack):
    return s3_client(stack.settings)


@pytest.fixture(scope="session")
def mc(stack, tmp_path_factory):
    """Runs the real `mc` against the stack."""
    s = stack.settings
    env = {**os.environ, "MC_CONFIG_DIR": str(tmp_path_factory.mktemp("mc"))}
    binary = str(s.tools_dir / "mc")
    subprocess.run(
        [binary, "alias", "set", "local", s.minio_url, s.minio_user, s.minio_password],
        check=True,
        env=env,
        capture_output=True,
    )

    def run(*args: str) -> str:
        return subprocess.run([binary, *args], check=True, env=env, capture_output=True, text=True).stdout

    return run


PART = 5 * 1024 * 1024


def upload_multipart(s3, key: str, data: bytes) -> Dropped:
    """Upload in 5 MiB parts, with the multipart ETag (the object may be gone before a HEAD could see it)."""
    started = time.time()
    s3.upload_fileobj(
        io.BytesIO(data), "incoming", key, Config=TransferConfig(multipart_threshold=PART, multipart_chunksize=PART)
    )
    parts = [hashlib.md5(data[i : i + PART]).digest() for i in range(0, len(data), PART)]
    return Dropped("incoming", key, f"{hashlib.md5(b''.join(parts)).hexdigest()}-{len(parts)}", started, time.time())


def big_jpeg(min_bytes: int = 6 * 1024 * 1024) -> bytes:
    """A real food photo re-encoded large enough for a multipart upload."""
    image = Image.open(PHOTOS / "1_17.jpg").convert("RGB")
    scale = 2
    while True:
        out = io.BytesIO()
        image.resize((image.width * scale, image.height * scale)).save(out, "JPEG", quality=100, subsampling=0)
        if out.tell() >= min_bytes:
            return out.getvalue()
        scale += 1


def wait_final(store: Store, photo: str | Dropped, timeout: float = 60.0) -> dict:
    """The final record of a prediction id or of a dropped object."""
    try:
        return wait_outcome(store, "events", photo, timeout)
    except TimeoutError as exc:
        raise AssertionError(str(exc)) from None


def production_objects(store: Store, pid: str) -> list[str]:
    return [o.key for o in store.list("production") if o.key.split("/")[-1].split(".")[0] == pid]


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def run_cli(settings: Settings, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The `gourmetgram` command as an operator runs it: MinIO's credentials in the environment (this
    checkout's code: run from the repository's root, pass absolute paths)."""
    from tests.conftest import ROOT

    env = {**os.environ, **settings.to_env()}
    return subprocess.run(
        [sys.executable, "-m", "gourmetgram", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
