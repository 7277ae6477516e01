"""Least privilege on the real MinIO: each component's own identity may do what its code does, and nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest
from minio.error import MinioAdminException

from classifier_fn.pipeline.startup_check import check
from gourmetgram.settings import Settings
from gourmetgram.store import NotFound, Store, StoreError
from gourmetgram_tools.client import drop, post_photo
from gourmetgram_tools.local import LocalStack
from minio_config import current
from minio_config.apply import ConfigureError, configure
from minio_config.identities import normalized
from minio_config.plan import AttachPolicy, PutPolicy, SetUser
from tests.conftest import photo
from tests.stack import production_objects, stack_settings, wait_final, wait_until

pytestmark = pytest.mark.integration


def as_component(settings: Settings, component: str) -> Settings:
    """The settings a component's process gets: its own identity as MINIO_USER/MINIO_PASSWORD."""
    user, password = settings.component_credentials(component)
    return settings.replace(minio_user=user, minio_password=password)


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """A configured MinIO of this module's own, with no function to take what lands in `incoming`."""
    stack = LocalStack(stack_settings(), tmp_path_factory.mktemp("bare"), queue_dir=False)
    try:
        stack.start_minio()
        stack.configure()
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture
def store(bare) -> Store:
    """Root's store: the operator's, who sets up what the components then try."""
    return Store.connect(bare.settings)


@pytest.fixture
def mc_as(bare, tmp_path):
    """The real `mc`, with an alias `as` for the given credentials; returns the finished process."""
    binary = str(bare.settings.tools_dir / "mc")

    def make(s: Settings):
        env = {**os.environ, "MC_CONFIG_DIR": str(tmp_path / f"mc-{s.minio_user}")}
        subprocess.run(
            [binary, "alias", "set", "as", s.minio_url, s.minio_user, s.minio_password],
            check=True,
            env=env,
            capture_output=True,
        )
        return lambda *args: subprocess.run([binary, *args], env=env, capture_output=True, text=True)

    return make


def refused(call) -> str:
    """Runs `call`, which MinIO must refuse; returns what it said."""
    with pytest.raises(StoreError) as caught:
        call()
    assert not isinstance(caught.value, NotFound)
    assert "AccessDenied" in str(caught.value)
    return str(caught.value)


def assert_no_admin(s: Settings, mc_as) -> None:
    done = mc_as(s)("admin", "info", "as")
    assert done.returncode != 0 and "Access Denied" in done.stdout + done.stderr, done
    with pytest.raises(MinioAdminException) as caught:
        current.admin(s).info()
    assert current.admin_error_code(caught.value) == "AccessDenied"
    with pytest.raises(ConfigureError, match="needs MinIO's root credentials"):
        configure(s.replace(web_minio_user="someone-else", function_minio_user="someone-other"), echo=print)


def test_the_frontend_can_neither_administer_nor_delete_nor_read_photos(bare, store, mc_as):
    web = as_component(bare.settings, "web")
    as_web = Store.connect(web)
    key = f"class_05/{uuid.uuid4()}.jpg"
    store.put("production", key, b"labelled photo", tags={"predicted_class": "Meat"})
    incoming = f"identities/{uuid.uuid4()}.jpg"
    store.put("incoming", incoming, b"someone's photo")
    try:
        assert_no_admin(web, mc_as)
        done = mc_as(web)("rm", f"as/production/{key}")
        assert done.returncode != 0 and "Access Denied" in done.stdout + done.stderr
        refused(lambda: as_web.delete("production", key))
        refused(lambda: as_web.read("incoming", incoming))
        refused(lambda: as_web.head("incoming", incoming))
        refused(lambda: as_web.delete("incoming", incoming))
        refused(lambda: as_web.put("production", "class_00/forged.jpg", b"x"))  # no forged training data
        refused(lambda: as_web.put("quarantine", "x.jpg", b"x"))
        assert store.read("production", key) == b"labelled photo"  # still there
        assert store.read("incoming", incoming) == b"someone's photo"
    finally:
        store.delete("production", key)
        store.delete("incoming", incoming)


def test_the_frontend_can_do_what_its_endpoints_do(bare, store):
    as_web = Store.connect(as_component(bare.settings, "web"))
    pid = str(uuid.uuid4())
    key = f"class_05/{pid}.jpg"
    store.put("production", key, b"labelled photo", tags={"predicted_class": "Meat"})
    store.put_json("events", f"{pid}.json", {"id": pid, "status": "done", "production_key": key})
    try:
        # POST /predict, and GET /predictions/<id> telling "queued" from "unknown"
        as_web.put(
            "incoming",
            f"{pid}.jpg",
            photo(),
            content_type="image/jpeg",
            metadata={"prediction-id": pid, "source": "web"},
        )
        assert [o.key for o in as_web.list("incoming", prefix=pid)] == [f"{pid}.jpg"]
        # the event log and the long-poll; an unknown id is NotFound (not a refusal)
        assert f"{pid}.json" in {o.key for o in as_web.list("events")}
        doc, etag = as_web.get_json("events", f"{pid}.json")
        with pytest.raises(NotFound):
            as_web.get_json("events", f"{uuid.uuid4()}.json")
        # feedback: tags on the production object, then the record with If-Match
        assert as_web.set_tags("production", key, {"corrected_class": "Egg"})["predicted_class"] == "Meat"
        # the record with its console tags and metadata in the same PUT: no s3:PutObjectTagging needed for that
        as_web.put_json(
            "events",
            f"{pid}.json",
            {**doc, "corrected_class": "Egg"},
            if_match=etag,
            tags={"status": "done", "corrected_class": "Egg"},
            metadata={"file-name": "caf%C3%A9.jpg"},
        )
        assert as_web.read("production", key) == b"labelled photo"
        assert store.get_tags("production", key)["corrected_class"] == "Egg"
        assert store.get_tags("events", f"{pid}.json") == {"status": "done", "corrected_class": "Egg"}
        assert store.head("events", f"{pid}.json").metadata == {"file-name": "caf%C3%A9.jpg"}
        assert store.get_json("events", f"{pid}.json")[0]["corrected_class"] == "Egg"
    finally:
        store.delete("production", key)
        store.delete("incoming", f"{pid}.jpg")  # the session's function may have taken it already


def test_the_function_can_neither_administer_nor_delete_results_nor_trigger_itself(bare, store, mc_as):
    fn = as_component(bare.settings, "function")
    as_fn = Store.connect(fn)
    key = f"class_05/{uuid.uuid4()}.jpg"
    store.put("production", key, b"labelled photo", tags={"predicted_class": "Meat"})
    try:
        assert_no_admin(fn, mc_as)
        refused(lambda: as_fn.delete("production", key))
        refused(lambda: as_fn.delete("quarantine", key))
        refused(lambda: as_fn.delete("events", "anything.json"))
        refused(lambda: as_fn.put("incoming", "loop.jpg", b"x"))  # never writes into the watched bucket
        assert store.read("production", key) == b"labelled photo"
    finally:
        store.delete("production", key)


def test_the_function_can_do_what_its_pipeline_does(bare, store):
    fn = as_component(bare.settings, "function")
    as_fn = Store.connect(fn)
    # The start-up check reads the four buckets' subscriptions; the readiness ping lists buckets.
    report = check(fn, Store.connect(fn))
    assert report.subscribed and report.problems == []
    as_fn.ping()
    pid = str(uuid.uuid4())
    # A photo dropped while no function listens (reconciler would find it): the GET of its version, the
    # claim, the copy of that version with tags, the record, the delete of that version; the nudge's HEAD
    key = f"identities/{pid}.jpg"
    etag = store.put("incoming", key, photo())
    newer_key = f"identities/{pid}-newer.jpg"
    record = f"{pid}.json"
    try:
        assert pid in {o.key.split("/")[-1][:-4] for o in as_fn.list("incoming", prefix="identities/")}
        assert as_fn.head("incoming", key).etag == etag
        fetched = as_fn.fetch("incoming", key, etag)
        info = fetched.info
        assert info.etag == etag and info.version_id and fetched.data == photo()
        store.put("incoming", key, b"a newer upload under the same key")  # the event's version is noncurrent now
        assert as_fn.fetch("incoming", key, etag, info.version_id).data == photo()
        as_fn.put_json(
            "events",
            record,
            {"id": pid, "status": "pending"},
            if_absent=True,
            tags={"status": "pending"},
            metadata={"file-name": key},
        )
        assert store.get_tags("events", record) == {"status": "pending"}
        doc, record_etag = as_fn.get_json("events", record)
        with pytest.raises(NotFound):  # the claim's "deleted meanwhile" path needs NotFound, not a refusal
            as_fn.get_json("events", f"{uuid.uuid4()}.json")
        tags = {"predicted_class": "Noodles/Pasta", "source": "bucket"}
        as_fn.copy(
            info,
            "production",
            f"class_06/{pid}.jpg",
            metadata={"prediction-id": pid},
            tags=tags,
            content_type="image/jpeg",
        )
        as_fn.copy(info, "quarantine", key, metadata={"prediction-id": pid}, tags={"reason": "test"})
        as_fn.put_json(
            "events",
            record,
            {**doc, "status": "done"},
            if_match=record_etag,
            tags={"status": "done", "predicted_class": "Noodles/Pasta"},
            metadata={"file-name": key},
        )
        assert store.get_tags("events", record) == {"status": "done", "predicted_class": "Noodles/Pasta"}
        as_fn.delete("incoming", key, etag=etag, version_id=info.version_id)
        assert store.get_tags("production", f"class_06/{pid}.jpg") == tags  # tags in the copy itself
        assert store.head("production", f"class_06/{pid}.jpg").etag == etag  # the event's version, not the newer
        assert store.get_tags("quarantine", key) == {"reason": "test"}
        # The newer upload is all that is left under the key: no old version, no delete marker
        mc = current.client(bare.settings)
        left = [(o.etag, o.is_delete_marker) for o in mc.list_objects("incoming", prefix=key, include_version=True)]
        assert left == [(store.head("incoming", key).etag, False)] and left[0][0] != etag
        # Without a version id (a bucket without versioning), the delete looks first, then deletes what it saw
        newer = store.put("incoming", newer_key, photo())
        as_fn.delete("incoming", newer_key, etag=newer)
        assert not list(mc.list_objects("incoming", prefix=newer_key, include_version=True))
    finally:
        for bucket, k in (("production", f"class_06/{pid}.jpg"), ("quarantine", key), ("events", record)):
            store.delete(bucket, k)
        for k in (key, newer_key):
            for version in current.client(bare.settings).list_objects("incoming", prefix=k, include_version=True):
                current.client(bare.settings).remove_object("incoming", k, version_id=version.version_id)


def test_a_second_configure_plans_nothing(bare):
    lines = []
    assert configure(bare.settings, echo=lines.append, dry_run=True) == []
    assert lines == ["MinIO already configured: nothing to do"]


def test_configure_repairs_our_identities_and_leaves_everything_else_alone(bare):
    s = bare.settings.replace(
        function_minio_user="gg-test-fn", web_minio_user="gg-test-web", web_minio_password="gg-test-web-secret"
    )
    adm = current.admin(s)
    web_policy = adm.policy_info("gourmetgram-web")
    try:
        # GIVEN an operator's own user and policy, and our users created under other names
        adm.policy_add(
            "operator-only",
            policy={
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::production/*"]}
                ],
            },
        )
        adm.user_add("operator-x", "operator-x-secret")
        adm.attach_policy(["readwrite"], user="operator-x")
        assert [type(step).__name__ for step in configure(s, echo=print)] == ["SetUser", "AttachPolicy"] * 2
        # WHEN someone widens our policy, changes our user's secret, gives it readwrite and disables the other
        adm.policy_add(
            "gourmetgram-web",
            policy={
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::*"]}],
            },
        )
        adm.user_add("gg-test-web", "someone-elses-secret")
        adm.attach_policy(["readwrite"], user="gg-test-web")
        adm.user_disable("gg-test-fn")
        # THEN configure puts back exactly that
        steps = configure(s, echo=print)
        assert [(type(step).__name__, step.identity.component) for step in steps] == [
            ("SetUser", "function"),
            ("PutPolicy", "web"),
            ("SetUser", "web"),
            ("AttachPolicy", "web"),
        ]
        assert isinstance(steps[1], PutPolicy) and steps[1].replaces
        assert isinstance(steps[0], SetUser) and steps[0].reason == "disabled"
        assert isinstance(steps[2], SetUser) and steps[2].reason == "secret"
        assert isinstance(steps[3], AttachPolicy) and steps[3].detach == ("readwrite",) and not steps[3].attach
        assert configure(s, echo=print) == []
        assert json.loads(adm.user_info("gg-test-web"))["policyName"] == "gourmetgram-web"
        assert current.secret_works(s, "gg-test-web", "gg-test-web-secret")
        # and the operator's user and policy are untouched
        assert json.loads(adm.user_info("operator-x"))["policyName"] == "readwrite"
        assert "operator-only" in json.loads(adm.policy_list())
        # (MinIO keeps actions as a set: their order changes from one read to the next)
        assert normalized(json.loads(adm.policy_info("gourmetgram-web"))) == normalized(json.loads(web_policy))
    finally:
        for user in ("gg-test-fn", "gg-test-web", "operator-x"):
            adm.user_remove(user)
        adm.policy_remove("operator-only")
        configure(bare.settings, echo=print)


def _environ(pid: int) -> str:
    return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")


def test_the_pipeline_runs_with_each_component_on_its_own_identity(tmp_path):
    root = stack_settings()
    stack = LocalStack(root, tmp_path)
    try:
        stack.start_minio()
        # GIVEN the identity steps applied by hand with the mc commands a dry run prints
        lines: list[str] = []
        planned = configure(root, echo=lines.append, dry_run=True)
        identity_steps = [step for step in planned if isinstance(step, (PutPolicy, SetUser, AttachPolicy))]
        assert len(identity_steps) == 6
        env = {
            **os.environ,
            "MC_CONFIG_DIR": str(tmp_path / "mc-root"),
            "PATH": f"{root.tools_dir}:{os.environ['PATH']}",
            "FUNCTION_MINIO_PASSWORD": root.component_credentials("function")[1],
            "WEB_MINIO_PASSWORD": root.component_credentials("web")[1],
        }
        subprocess.run(
            ["mc", "alias", "set", "local", root.minio_url, root.minio_user, root.minio_password],
            check=True,
            env=env,
            capture_output=True,
        )
        for step in identity_steps:
            done = subprocess.run(["bash", "-c", step.mc("local")], env=env, capture_output=True, text=True)
            assert done.returncode == 0, (step.mc("local"), done.stdout, done.stderr)
        # WHEN configure runs, it has only the buckets and the subscription left to do; a second run nothing
        steps = configure(root, echo=print)
        assert steps and not [step for step in steps if isinstance(step, (PutPolicy, SetUser, AttachPolicy))]
        assert configure(root, echo=print) == []
        # AND a photo an operator dropped, which the frontend may not read
        store = Store.connect(root)
        dropped = drop(store, "incoming", "operator/soup.jpg", photo("9_452.jpg"))
        refused(lambda: Store.connect(as_component(root, "web")).read("incoming", dropped.key))
        # AND the function and the frontend run with their own credentials only (as `up` starts them)
        stack.start_function()
        stack.start_web()
        for child in (stack.children["function"], stack.children["web"]):
            assert root.minio_password not in _environ(child.process.pid), f"{child.name} holds the root password"
        with urllib.request.urlopen(f"{stack.function_base}/readyz", timeout=10) as r:
            ready = json.load(r)
        assert ready["ready"] and ready["minio"] == "ok" and ready["subscription"] == "ok", ready
        assert ready["problems"] == []
        # THEN a drop and a web upload are labelled, and feedback lands in the tags and the record
        accepted = post_photo(stack.web_url, photo("7_226.jpg"), "rice.jpg")
        with urllib.request.urlopen(f"{stack.web_url}{accepted['poll']}?wait=30", timeout=40) as r:
            uploaded = json.load(r)
        assert uploaded["status"] == "done" and uploaded["source"] == "web", uploaded
        assert wait_final(store, dropped)["status"] == "done"
        headers = {"Content-Type": "application/json"}
        if accepted.get("feedback_token"):
            headers["Authorization"] = f"Bearer {accepted['feedback_token']}"
        request = urllib.request.Request(
            f"{stack.web_url}/predictions/{accepted['id']}/feedback",
            method="POST",
            data=json.dumps({"corrected_class": "Seafood", "flagged": True}).encode(),
            headers=headers,
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 200
        assert production_objects(store, accepted["id"]) == [uploaded["production_key"]]
        tags = store.get_tags("production", uploaded["production_key"])
        assert tags["corrected_class"] == "Seafood" and tags["flagged"] == "true"
        assert store.get_json("events", f"{accepted['id']}.json")[0]["corrected_class"] == "Seafood"
        log = urllib.request.Request(
            f"{stack.web_url}/review/api/events",  # the operators' event log
            headers={"Authorization": f"Bearer {stack.settings.local_review_token}"},
        )
        with urllib.request.urlopen(log, timeout=10) as r:
            shown = json.dumps(json.load(r))
        assert accepted["id"] in shown
        wait_until(lambda: not list(store.list("incoming")), 20, "incoming emptied by the function")
    finally:
        stack.stop_all()
