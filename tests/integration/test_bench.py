"""`gourmetgram bench` runs end to end (small sizes); it prints figures, and no test asserts a time."""

import json
import subprocess
import sys

import pytest

from gourmetgram.cores import usable_cores
from gourmetgram_tools.bench import table
from tests.conftest import ROOT
from tests.stack import stack_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(960)  # the subprocess's own limit, and a little
def test_bench_reports_every_figure_as_json():
    # A slow reconciler: its listings count in the S3 requests per image, which must stay under 6.
    env = {**stack_settings(decode="fast", reconcile_interval_s=30.0).to_env(), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "gourmetgram", "bench", "--photos", "6", "--singles", "2", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["ceiling_allocator"] == "the function's"  # glibc here: the model measured as the function runs it
    for name in ("ceiling", "ceiling_one_decoder"):
        assert result[name]["images_per_s"] > 0 and result[name]["batch_size"] in (1, 4, 8, 16)
        assert result[name]["cpu_ms_per_image"] > 0
    for mode in ("queue_dir_on", "queue_dir_off"):
        burst = result[f"burst_{mode}"]
        assert burst["done"] == 6 and burst["ratio_to_ceiling"] > 0
        assert burst["peak_rss_mb"] > burst["peak_anon_rss_mb"] > 0
        # GET, claim, copy, record, delete: five; the reconciler's listings add a little in a short run
        assert 5 <= burst["s3_requests_per_image"] < 6
        assert burst["ratio_to_cpu_bound"] == pytest.approx(burst["images_per_s"] / burst["cpu_bound_images_per_s"])
        assert burst["function_own_cpu_ms"] == pytest.approx(
            burst["cpu_ms_per_image"]["function"] - result["ceiling"]["cpu_ms_per_image"]
        )
        cpu = burst["cpu_ms_per_image"]
        assert set(cpu) == {"minio", "function", "web", "bench"} and cpu["function"] > 0 and cpu["minio"] > 0
        # every core busy with what each photo costs every process
        assert burst["cpu_bound_images_per_s"] == pytest.approx(usable_cores() * 1000 / sum(cpu.values()))
        latency = result[f"latency_{mode}"]
        assert all(latency[path]["p95_ms"] >= latency[path]["p50_ms"] > 0 for path in ("web", "bucket", "sync"))
        assert latency["web"]["p50_ms"] > latency["web_classify"]["p50_ms"] > 0  # one step of it
    assert result["latency_queue_dir_on"]["web_vs_sync_target_ms"] > 100
    flood = result["under_flood"]  # single uploads while clients without the token flood the function
    assert flood["flooders"] == 4 and flood["refused_per_s"] > 0
    assert flood["web"]["p95_ms"] >= flood["web"]["p50_ms"] > flood["web_classify"]["p50_ms"] > 0
    # Side by side with the course's design (built from our parts), 4 uploaders each
    here, baseline, versus = result["uploads"], result["baseline"], result["versus_baseline"]
    assert here["photos"] == baseline["photos"] == here["done"] == baseline["done"] == 6
    assert here["stored_per_s"] > 0 and baseline["stored_per_s"] > 0
    assert all(side[f]["p95_ms"] >= side[f]["p50_ms"] > 0 for side in (here, baseline) for f in ("answer", "label"))
    assert versus["stored_per_s"] == pytest.approx(here["stored_per_s"] / baseline["stored_per_s"])
    assert versus["single_label_p50"] == pytest.approx(
        result["latency_queue_dir_on"]["web"]["p50_ms"] / baseline["single"]["p50_ms"]
    )
    assert set(baseline["cpu_ms_per_image"]) == {"minio", "baseline", "bench"}
    assert set(here["cpu_ms_per_image"]) == {"minio", "function", "web", "bench"}
    assert result["decode"] == "fast"
    shadow = result["shadow_cost"]  # the champion's ceiling with and without a challenger in the shadow
    assert shadow["with_challenger_images_per_s"] > 0 and shadow["without_challenger_images_per_s"] > 0
    assert shadow["ratio"] == pytest.approx(
        shadow["with_challenger_images_per_s"] / shadow["without_challenger_images_per_s"]
    )
    # The int8 model: alone against fp32, its answers against re-encoding's, and served beside the course's model
    alone = result["int8_model_alone"]
    assert (
        alone["ratio"] == pytest.approx(alone["int8_images_per_s"] / alone["fp32_images_per_s"]) and alone["ratio"] > 0
    )
    answers = result["int8_answers"]
    assert answers["photos"] == 15 and all(0 <= answers[k]["largest"] <= 1 for k in ("int8", "reencoding"))
    int8, course, versus8 = result["uploads_int8"], result["baseline_course"], result["int8_versus_course"]
    assert int8["done"] == course["done"] == result["burst_int8"]["done"] == 6
    assert versus8["stored_per_s"] == pytest.approx(int8["stored_per_s"] / course["stored_per_s"])
    assert versus8["single_label_p50"] == pytest.approx(
        result["latency_int8"]["web"]["p50_ms"] / course["single"]["p50_ms"]
    )
    assert versus8["burst_vs_cpu_bound"] == result["burst_int8"]["ratio_to_cpu_bound"] > 0
    off = result["burst_int8_queue_dir_off"]
    assert off["done"] == 6 and off["ratio_to_cpu_bound"] > 0
    printed = table(result)  # what `gourmetgram bench` prints without --json: every measure has its line
    assert f"{alone['ratio']:.2f}x (target >= 2.5x)" in printed and "course-as-served" in printed
    assert "photos stored with tags per second" in printed and "while 4 clients flood the function" in printed
    assert f"p50 {flood['web']['p50_ms']:.0f} ms" in printed
    assert f"{shadow['ratio']:.2f}x (budget: {shadow['budget_share']:.0%} of photos" in printed
    print(done.stdout)
