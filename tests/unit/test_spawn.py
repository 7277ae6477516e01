"""What each child is given: only the settings and secrets it needs."""

from __future__ import annotations

from gourmetgram.settings import FrontendSettings, FunctionSettings, Settings
from gourmetgram_tools.spawn import SECRETS, component_args, component_env, inherited_env, tail

SETTINGS = Settings(
    minio_password="root-password",
    webhook_token="webhook-secret",
    function_minio_password="fn-password",
    web_minio_password="web-password",
)


def test_the_secrets_are_known():
    assert {
        "MINIO_PASSWORD",
        "WEBHOOK_TOKEN",
        "NUDGE_TOKEN",
        "FUNCTION_MINIO_PASSWORD",
        "WEB_MINIO_PASSWORD",
    } <= SECRETS


def test_the_function_gets_the_webhook_and_nudge_tokens():
    env = component_env(SETTINGS, "function")
    assert env["WEBHOOK_TOKEN"] == "webhook-secret"
    assert env["NUDGE_TOKEN"] == SETTINGS.effective_nudge_token != "webhook-secret"
    assert {"FUNCTION_MINIO_PASSWORD", "WEB_MINIO_PASSWORD"}.isdisjoint(env)
    assert Settings.from_env(env).webhook_token == "webhook-secret"


def test_the_frontend_gets_the_nudge_token_and_never_the_webhook_token():
    env = component_env(SETTINGS, "web")
    assert "WEBHOOK_TOKEN" not in env and "webhook-secret" not in env.values()
    assert env["NUDGE_TOKEN"] == SETTINGS.effective_nudge_token
    assert {"FUNCTION_MINIO_PASSWORD", "WEB_MINIO_PASSWORD"}.isdisjoint(env)


def test_each_runs_as_its_own_minio_identity_never_root():
    for component, password in (("function", "fn-password"), ("web", "web-password")):
        env = component_env(SETTINGS, component)
        assert (env["MINIO_USER"], env["MINIO_PASSWORD"]) == SETTINGS.component_credentials(component)
        assert env["MINIO_PASSWORD"] == password and "root-password" not in env.values()
    derived = Settings(minio_password="root-password")
    assert component_env(derived, "web")["MINIO_PASSWORD"] not in ("root-password", "")


def test_public_settings_reach_the_children():
    env = component_env(SETTINGS.replace(web_port=5123, max_upload_bytes=1000), "web")
    rebuilt = FrontendSettings.from_env(env)
    assert (rebuilt.web_port, rebuilt.max_upload_bytes) == (5123, 1000)


def test_each_child_gets_its_own_part_s_variables_only():
    function, web = component_env(SETTINGS, "function"), component_env(SETTINGS, "web")
    assert set(function) <= set(FunctionSettings.env_names().values())
    assert set(web) <= set(FrontendSettings.env_names().values())
    assert "FUNCTION_URL" not in function and "MODEL_PATH" not in web and "WORKERS" not in web


def test_fixed_values_a_test_changed_reach_the_children_as_arguments_never_the_environment():
    changed = SETTINGS.replace(bucket_events="log", reconcile_grace_s=2.0, web_threads=3)
    function, web = component_args(changed, "function"), component_args(changed, "web")
    assert function == ["--fixed", "bucket_events=log", "--fixed", "reconcile_grace_s=2.0"]
    assert web == ["--fixed", "bucket_events=log", "--fixed", "web_threads=3"]
    assert component_args(SETTINGS, "function") == component_args(SETTINGS, "web") == []
    assert component_env(changed, "function") == component_env(SETTINGS, "function")


def test_children_do_not_inherit_our_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("WEBHOOK_TOKEN", "from-the-shell")
    monkeypatch.setenv("MINIO_PASSWORD", "from-the-shell-too")
    monkeypatch.setenv("SOMETHING_ELSE", "kept")
    env = inherited_env()
    assert "WEBHOOK_TOKEN" not in env and "MINIO_PASSWORD" not in env
    assert env["SOMETHING_ELSE"] == "kept" and "PATH" in env


def test_children_do_not_inherit_root_keys_from_an_operators_shell(monkeypatch):
    # GIVEN the shell of an operator who sourced the data folder's env.sh (mc's alias holds root's keys)
    monkeypatch.setenv("MC_HOST_local", "http://gourmetgram:root-secret@127.0.0.1:9000")
    monkeypatch.setenv("MINIO_ROOT_PASSWORD", "root-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3-secret")
    monkeypatch.setenv("MC_CONFIG_DIR", "/tmp/mc")
    env = inherited_env()
    # THEN no child gets them by inheritance (the function and the frontend hold their own identities only)
    assert not {"MC_HOST_local", "MINIO_ROOT_PASSWORD", "AWS_SECRET_ACCESS_KEY"} & set(env)
    assert env["MC_CONFIG_DIR"] == "/tmp/mc"


def test_the_tail_of_a_log_shows_only_the_latest_run(tmp_path):
    log = tmp_path / "web.log"
    log.write_text(
        "==== web started at 2026-01-01 10:00:00 ====\nold run\nold crash\n"
        "==== web started at 2026-01-01 10:00:05 ====\n" + "".join(f"line {i}\n" for i in range(40))
    )
    assert tail(log, 3) == "line 37\nline 38\nline 39"
    assert "old" not in tail(log, 100) and tail(log, 100).startswith("line 0")
    assert tail(tmp_path / "missing.log") == ""


def test_the_function_alone_gets_the_nats_token():
    assert component_env(SETTINGS, "function")["NATS_TOKEN"] == SETTINGS.effective_nats_token
    assert "NATS_TOKEN" not in component_env(SETTINGS, "web")
    assert SETTINGS.effective_nats_token not in component_env(SETTINGS, "web").values()
    assert "NATS_TOKEN" in SECRETS


def test_only_the_frontend_gets_the_review_token():
    web, function = component_env(SETTINGS, "web"), component_env(SETTINGS, "function")
    assert web["REVIEW_TOKEN"] == SETTINGS.local_review_token and "REVIEW_TOKEN" not in function
    assert Settings.from_env(web).review_token == SETTINGS.local_review_token
    chosen = SETTINGS.replace(review_token="the-operators-own-token")
    assert component_env(chosen, "web")["REVIEW_TOKEN"] == "the-operators-own-token"


def test_the_function_s_allocator_keeps_the_model_s_activations_in_its_heap():
    # Mapped blocks are faulted in and zeroed on every use: at 4 MiB every forward pass mapped its activations
    # and took twice as long per image. The workers' largest batch (one photo per worker) must stay below.
    import torch

    from classifier_fn.inference import model
    from gourmetgram_tools.spawn import FUNCTION_MALLOC_ENV

    module, largest = model.load(None).module, 0

    def keep_largest(_module, _inputs, output):
        nonlocal largest
        largest = max(largest, output.nbytes)

    hooks = [m.register_forward_hook(keep_largest) for m in module.modules() if not list(m.children())]
    with torch.inference_mode():
        batch = min(Settings().batch_size, Settings().workers)
        module(torch.zeros(batch, 3, 224, 224).contiguous(memory_format=torch.channels_last))
    for hook in hooks:
        hook.remove()
    assert largest > 4 << 20  # the former threshold: the test would fail with it
    assert int(FUNCTION_MALLOC_ENV["MALLOC_MMAP_THRESHOLD_"]) > largest
    assert int(FUNCTION_MALLOC_ENV["MALLOC_TRIM_THRESHOLD_"]) >= int(FUNCTION_MALLOC_ENV["MALLOC_MMAP_THRESHOLD_"])
