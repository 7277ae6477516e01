from pathlib import Path

import pytest

from gourmetgram.settings import Settings, SettingsError


def test_from_env_reads_the_course_names_and_casts():
    s = Settings.from_env({"MINIO_URL": "http://minio:9000", "MINIO_USER": "admin", "MINIO_PASSWORD": "secret-pw",
                           "WEBHOOK_TOKEN": "tok", "MODEL_PATH": "/models/food11.pth", "BATCH_SIZE": "16",
                           "RECONCILE_GRACE_S": "2.5"})
    assert (s.minio_url, s.minio_user, s.batch_size, s.reconcile_grace_s) == ("http://minio:9000", "admin", 16, 2.5)
    assert s.model_path == Path("/models/food11.pth")


def test_overrides_win_and_none_overrides_are_ignored():
    s = Settings.from_env({"WEB_PORT": "5001"}, web_port=None, function_port=9999)
    assert (s.web_port, s.function_port) == (5001, 9999)


@pytest.mark.parametrize(("env", "message"), [
    pytest.param({"BATCH_SIZE": "eight"}, "BATCH_SIZE 'eight' is not a valid int", id="not-int"),
    pytest.param({"MINIO_URL": "minio:9000"}, "MINIO_URL 'minio:9000' is not an http(s) URL", id="bad-url"),
    pytest.param({"MINIO_PASSWORD": "short"}, "at least 8 characters", id="short-password"),
    pytest.param({"WEBHOOK_TOKEN": "two words"}, "one word", id="token-with-space"),
    pytest.param({"BUCKET_PRODUCTION": "incoming"}, "watched bucket", id="writes-into-watched"),
    pytest.param({"WORKERS": "-1"}, "WORKERS -1 must not be negative", id="negative"),
    pytest.param({"DECODE": "quick"}, "DECODE 'quick' must be one of fast, exact", id="unknown-decode"),
])
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env(env)


def test_secrets_stay_out_of_repr():
    s = Settings(minio_password="very-secret-pw", webhook_token="tok-123")
    assert "very-secret-pw" not in repr(s) and "tok-123" not in repr(s)


def test_to_env_round_trips():
    s = Settings(batch_size=3, model_path=Path("/m.pth"), bucket_events="log")
    assert Settings.from_env(s.to_env()) == s


def test_webhook_endpoint_is_derived_from_function_url():
    assert Settings(function_url="http://fn:8080/").webhook_endpoint == "http://fn:8080/minio/events"
