import json
import subprocess
import sys

import pytest
import waitress
from click.testing import CliRunner
from waitress.adjustments import Adjustments

import gourmetgram_tools as cli
from gourmetgram.settings import Settings
from gourmetgram.store import Store
from ingest.server import waitress_options
from tests.conftest import ROOT


def test_serve_web_sets_waitress_limits_from_the_settings(fake_store, monkeypatch):
    served = {}
    monkeypatch.setattr(Store, "connect", classmethod(lambda cls, settings, timeout_s=10.0: fake_store))
    monkeypatch.setattr(waitress, "serve", lambda app, **options: served.update(options, app=app))
    result = CliRunner().invoke(
        cli.main,
        ["serve-web", "--port", "5999", "--fixed", "web_connection_limit=700", "--fixed", "web_threads=40"],
        env={"MAX_UPLOAD_BYTES": "1000000"},
    )
    assert result.exit_code == 0, result.output
    app = served.pop("app")
    assert served["port"] == 5999 and served["threads"] == 40
    assert served["connection_limit"] == 700  # not waitress's default of 100
    assert served["asyncore_use_poll"] is True  # select() stops at 1024 descriptors
    assert served["channel_request_lookahead"] >= 1  # without it, waitress.client_disconnected never says so
    # a body the app refuses with its own clear 413 still reaches it; far bigger ones never do (not 1 GB)
    app_limit = app.config["MAX_CONTENT_LENGTH"]
    assert app_limit < 1_100_000 and app_limit < served["max_request_body_size"] <= 4 * app_limit
    assert served["max_request_header_size"] <= 64 * 1024
    assert served["channel_timeout"] <= 120 and served["cleanup_interval"] <= 30
    Adjustments(**served)  # waitress knows every option and its type


def test_the_options_are_waitress_adjustments():
    adj = Adjustments(**waitress_options(Settings(), 1000))
    assert adj.connection_limit == 1000 and adj.asyncore_use_poll and adj.channel_request_lookahead == 1


def fit_in_child(soft: int, hard: int, connection_limit: int) -> dict:
    """fit_open_files in a fresh process started with these limits (a lowered hard limit cannot be undone)."""
    code = f"""
import json, resource
resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard}))
from ingest.server import fit_open_files
limit, why = fit_open_files({connection_limit})
print(json.dumps({{"limit": limit, "why": why, "soft": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}}))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_the_open_files_limit_is_raised_to_what_the_connections_need():
    got = fit_in_child(soft=512, hard=4096, connection_limit=1000)
    assert got == {"limit": 1000, "why": None, "soft": 1000 * 2 + 256}


def test_a_hard_limit_too_low_lowers_the_connection_limit_and_says_so():
    got = fit_in_child(soft=512, hard=1024, connection_limit=1000)
    assert got["soft"] == 1024 and got["limit"] == (1024 - 256) // 2
    assert "web_connection_limit=1000" in got["why"] and "accepting at most 384 connections" in got["why"]


@pytest.mark.parametrize("soft", [4096, 20000])
def test_a_sufficient_limit_is_left_alone(soft):
    assert fit_in_child(soft=soft, hard=soft, connection_limit=1000) == {"limit": 1000, "why": None, "soft": soft}
