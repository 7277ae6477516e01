"""`gourmetgram bench --transports` runs end to end (tiny sizes) and reports every figure; no test asserts a time."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.stack import stack_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(960)  # the subprocess's own limit, and a little
def test_bench_of_the_transports_reports_every_figure_as_json():
    env = {**stack_settings().to_env(), "PATH": "/usr/bin:/bin:/usr/sbin"}
    done = subprocess.run(
        [sys.executable, "-m", "gourmetgram", "bench", "--transports", "--photos", "4", "--singles", "2", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    for mode in ("webhook_queue_dir", "webhook", "jetstream", "jetstream_sync_default", "cluster_1", "cluster_2"):
        latency = result[mode]["latency"]
        assert latency["p95_ms"] >= latency["p50_ms"] > 0, mode
    for mode in ("webhook", "jetstream", "jetstream_sync_default", "cluster_1", "cluster_2"):
        assert result[mode]["burst"]["done"] == 4 and result[mode]["burst"]["images_per_s"] > 0, mode
    assert set(result["ratios"]) == {
        "jetstream_p50_vs_target",
        "jetstream_p50_vs_webhook_queue_dir",
        "jetstream_burst_vs_webhook",
        "sync_always_burst_vs_default",
        "sync_always_p50_vs_default",
        "cluster_two_vs_one_replica",
    }
    assert all(value > 0 for value in result["ratios"].values())
    print(done.stdout)
