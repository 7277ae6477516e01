import re
from pathlib import Path

import pytest

from gourmetgram.settings import FrontendSettings, FunctionSettings, Settings, SettingsError


def test_from_env_reads_the_course_names_and_casts():
    s = Settings.from_env(
        {
            "MINIO_URL": "http://minio:9000",
            "MINIO_USER": "admin",
            "MINIO_PASSWORD": "secret-pw",
            "WEBHOOK_TOKEN": "tok",
            "MODEL_PATH": "/models/food11.pth",
            "BATCH_SIZE": "16",
            "CLAIM_TTL_S": "2.5",
        }
    )
    assert (s.minio_url, s.minio_user, s.batch_size, s.claim_ttl_s) == ("http://minio:9000", "admin", 16, 2.5)
    assert s.model_path == Path("/models/food11.pth")


def test_overrides_win_and_none_overrides_are_ignored():
    s = Settings.from_env({"WEB_PORT": "5001"}, web_port=None, function_port=9999)
    assert (s.web_port, s.function_port) == (5001, 9999)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({"BATCH_SIZE": "eight"}, "BATCH_SIZE 'eight' is not a valid int", id="not-int"),
        pytest.param({"MINIO_URL": "minio:9000"}, "MINIO_URL 'minio:9000' is not an http(s) URL", id="bad-url"),
        pytest.param({"MINIO_PASSWORD": "short"}, "at least 8 characters", id="short-password"),
        pytest.param({"WEBHOOK_TOKEN": "two words"}, "one word", id="token-with-space"),
        pytest.param({"WORKERS": "-1"}, "WORKERS -1 must not be negative", id="negative"),
        pytest.param({"CLAIM_TTL_S": "inf"}, "CLAIM_TTL_S inf must be a finite number", id="endless-wait"),
        pytest.param({"RECONCILE_INTERVAL_S": "nan"}, "RECONCILE_INTERVAL_S nan must be a finite number", id="nan"),
        pytest.param(
            {"WEB_ALLOWED_HOSTS": "gg.example, http://gg.example"},
            "WEB_ALLOWED_HOSTS entry 'http://gg.example'",
            id="url-as-host",
        ),
        pytest.param({"WEB_ALLOWED_HOSTS": "::1"}, "WEB_ALLOWED_HOSTS entry '::1'", id="ipv6-without-brackets"),
        pytest.param(
            {"MAX_UPLOAD_BYTES": str(30 * 1024 * 1024)}, "must not exceed the function's limit", id="upload-over-limit"
        ),
    ],
)
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("fixed", "message"),
    [
        pytest.param({"bucket_production": "incoming"}, "watched bucket", id="writes-into-watched"),
        pytest.param({"long_poll_max_s": float("inf")}, "long_poll_max_s inf must be a finite number", id="endless"),
        pytest.param({"reconcile_grace_s": float("nan")}, "reconcile_grace_s nan must be a finite number", id="nan"),
        pytest.param({"decode": "quick"}, "decode 'quick' must be one of fast, exact", id="unknown-decode"),
        pytest.param({"predict_body_min_bytes_per_s": 0}, "predict_body_min_bytes_per_s", id="no-body-rate"),
        pytest.param({"predict_body_budget_bytes": 0}, "predict_body_budget_bytes", id="no-body-budget"),
    ],
)
def test_bad_fixed_values_name_the_field(fixed, message):
    with pytest.raises(SettingsError, match=message):
        Settings(**fixed)


def test_fixed_values_are_never_read_from_the_environment():
    env = {"RECONCILE_GRACE_S": "2.5", "DECODE": "exact", "BUCKET_EVENTS": "log", "WEB_THREADS": "3"}
    assert Settings.from_env(env) == Settings()
    assert not {"RECONCILE_GRACE_S", "DECODE", "BUCKET_EVENTS", "WEB_THREADS"} & set(Settings.env_names().values())


def test_fixed_values_a_test_changed_travel_as_arguments():
    s = Settings(reconcile_grace_s=2.5, decode="exact", web_threads=3, workers=2)
    assert s.fixed_changes() == {"reconcile_grace_s": "2.5", "decode": "exact", "web_threads": "3"}
    assert FunctionSettings.parse_fixed(["reconcile_grace_s=2.5", "decode=exact"]) == {
        "reconcile_grace_s": 2.5,
        "decode": "exact",
    }
    with pytest.raises(SettingsError, match="not name=value of a fixed value of FunctionSettings"):
        FunctionSettings.parse_fixed(["web_threads=3"])  # the frontend's
    with pytest.raises(SettingsError, match="not name=value"):
        FunctionSettings.parse_fixed(["workers=3"])  # read from WORKERS, not fixed
    with pytest.raises(SettingsError, match="reconcile_grace_s 'soon' is not a valid float"):
        FunctionSettings.parse_fixed(["reconcile_grace_s=soon"])


def test_each_part_reads_only_its_own_variables():
    function, frontend = set(FunctionSettings.env_names().values()), set(FrontendSettings.env_names().values())
    assert {"WEBHOOK_TOKEN", "NATS_TOKEN", "MODEL_PATH"} <= function - frontend
    assert {"REVIEW_TOKEN", "WEB_ALLOWED_HOSTS", "FUNCTION_URL"} <= frontend - function
    stack_only = set(Settings.env_names().values()) - function - frontend
    assert stack_only == {
        "FUNCTION_MINIO_PASSWORD",
        "WEB_MINIO_PASSWORD",
        "NATS_REPLICAS",
        "QUARANTINE_EXPIRY_DAYS",
        "GOURMETGRAM_BIN",
    }
    assert len(Settings.env_names()) < 30


def test_each_part_is_given_its_own_identity_and_tokens_only():
    s = Settings(minio_password="root-password", webhook_token="webhook-secret", review_token="r" * 16)
    function, frontend = s.function(), s.frontend()
    assert type(function) is FunctionSettings and type(frontend) is FrontendSettings
    assert (function.minio_user, function.minio_password) == s.component_credentials("function")
    assert (frontend.minio_user, frontend.minio_password) == s.component_credentials("web")
    assert function.effective_nudge_token == frontend.effective_nudge_token == s.effective_nudge_token
    assert function.effective_nats_token == s.effective_nats_token
    assert "webhook-secret" not in frontend.to_env().values() and "root-password" not in frontend.to_env().values()
    assert "REVIEW_TOKEN" not in function.to_env() and frontend.review_token == "r" * 16
    assert FunctionSettings.from_env(function.to_env()) == function
    assert FrontendSettings.from_env(frontend.to_env()) == frontend


def test_secrets_stay_out_of_repr():
    s = Settings(minio_password="very-secret-pw", webhook_token="tok-123")
    assert "very-secret-pw" not in repr(s) and "tok-123" not in repr(s)


def test_to_env_round_trips():
    s = Settings(batch_size=3, model_path=Path("/m.pth"), quarantine_expiry_days=3)
    assert Settings.from_env(s.to_env()) == s


def test_webhook_endpoint_is_derived_from_function_url():
    assert Settings(function_url="http://fn:8080/").webhook_endpoint == "http://fn:8080/minio/events"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param({}, {"localhost", "127.0.0.1", "[::1]"}, id="default-loopback"),
        pytest.param({"BIND_HOST": "0.0.0.0"}, {"localhost", "127.0.0.1", "[::1]"}, id="wildcard-bind-adds-nothing"),
        pytest.param({"BIND_HOST": "192.168.1.20"}, {"localhost", "127.0.0.1", "[::1]", "192.168.1.20"}, id="bind"),
        pytest.param({"BIND_HOST": "fd00::7"}, {"localhost", "127.0.0.1", "[::1]", "[fd00::7]"}, id="bind-ipv6"),
        pytest.param(
            {"WEB_ALLOWED_HOSTS": " GG.example ,gg.example:8443,,[2001:db8::1]"},
            {"localhost", "127.0.0.1", "[::1]", "gg.example", "gg.example:8443", "[2001:db8::1]"},
            id="list",
        ),
        pytest.param({"WEB_ALLOWED_HOSTS": "*"}, {"localhost", "127.0.0.1", "[::1]", "*"}, id="any"),
    ],
)
def test_allowed_web_hosts(env, expected):
    assert Settings.from_env(env).allowed_web_hosts == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param(
            {"EVENT_TRANSPORT": "kafka"}, "EVENT_TRANSPORT 'kafka' must be one of webhook, jetstream", id="transport"
        ),
        pytest.param(
            {"NATS_URL": "http://nats:4222"},
            "NATS_URL entry 'http://nats:4222' is not nats://host:port",
            id="nats-scheme",
        ),
        pytest.param({"NATS_URL": "nats://a:4222,nats://b"}, "NATS_URL entry 'nats://b'", id="nats-no-port"),
        pytest.param({"NATS_URL": " , "}, "names no server", id="nats-empty"),
        pytest.param({"NATS_TOKEN": "two words"}, "NATS_TOKEN must be one word", id="nats-token"),
        pytest.param({"NATS_REPLICAS": "0"}, "NATS_REPLICAS 0 must be 1 to 5", id="replicas"),
    ],
)
def test_a_bad_transport_setting_names_the_variable(env, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env(env)
    with pytest.raises(SettingsError, match="nats_max_deliver"):
        Settings(nats_max_deliver=0)


def test_the_transport_picks_the_target_and_the_servers_are_a_list():
    s = Settings.from_env({"EVENT_TRANSPORT": "jetstream", "NATS_URL": "nats://n1:4222, nats://n2:4222"})
    assert s.jetstream and s.transport_arn == "arn:minio:sqs::GOURMETGRAM:nats"
    assert s.nats_servers == ["nats://n1:4222", "nats://n2:4222"]
    webhook = Settings()
    assert not webhook.jetstream and webhook.transport_arn == "arn:minio:sqs::GOURMETGRAM:webhook"


def test_the_nats_token_is_derived_unless_set_and_never_in_repr():
    s = Settings(webhook_token="webhook-secret")
    assert s.effective_nats_token not in ("", "webhook-secret", s.effective_nudge_token)
    assert Settings(nats_token="nats-secret").effective_nats_token == "nats-secret"
    assert "nats-secret" not in repr(Settings(nats_token="nats-secret"))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({"review_confidence": 1.5}, "review_confidence 1.5 must be from 0 to 1", id="over-one"),
        pytest.param({"review_confidence": float("nan")}, "review_confidence nan must be a finite number", id="nan"),
        pytest.param({"review_token": "short"}, "REVIEW_TOKEN must be one word of at least 16", id="short-token"),
        pytest.param({"review_token": "two words of sixteen"}, "one word", id="token-with-space"),
        pytest.param({"review_user": "a:b"}, "without ':'", id="user-with-colon"),
        pytest.param({"review_window_days": 0}, "at least 1", id="no-window"),
        pytest.param({"review_sample_per_day": -1}, "must not be negative", id="negative-sample"),
    ],
)
def test_bad_review_settings_name_the_variable(env, message):
    with pytest.raises(SettingsError, match=message):
        FrontendSettings(**env)


def test_the_review_token_is_a_secret_and_up_derives_one_when_unset():
    s = Settings(review_token="operator-secret-0123")
    assert "operator-secret-0123" not in repr(s) and s.local_review_token == "operator-secret-0123"
    derived = Settings(minio_password="root-password").local_review_token
    assert len(derived) >= 16 and derived != Settings(minio_password="another-root").local_review_token
    assert Settings().review_token is None  # the frontend itself never derives one: unset means off


@pytest.mark.parametrize(
    ("torch_threads", "cores", "expected"), [(0, 2, 1), (0, 1, 1), (0, 8, 7), (2, 2, 2), (3, 8, 3)]
)
def test_the_model_leaves_a_core_to_the_decodes_unless_told(monkeypatch, torch_threads, cores, expected):
    monkeypatch.setattr("gourmetgram.settings.usable_cores", lambda: cores)
    assert Settings.from_env({"TORCH_THREADS": str(torch_threads)}).model_threads == expected
