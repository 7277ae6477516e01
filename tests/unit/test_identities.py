"""The components' identities and policies as data: exactly the rights their code needs, nothing else."""

from __future__ import annotations

import pytest

from gourmetgram.settings import Settings, SettingsError
from minio_config.identities import function_policy, identities, normalized, web_policy


def rights(policy: dict) -> set[tuple[str, str]]:
    """(action, resource) pairs a policy allows."""
    assert all(st["Effect"] == "Allow" and "Condition" not in st for st in policy["Statement"])
    return {(a, r) for st in policy["Statement"] for a in st["Action"] for r in st["Resource"]}


def test_the_frontend_may_upload_read_records_and_tag_production_and_nothing_more():
    assert rights(web_policy(Settings())) == {
        ("s3:PutObject", "arn:aws:s3:::incoming/*"),
        ("s3:ListBucket", "arn:aws:s3:::incoming"),  # "queued" or "unknown"
        ("s3:ListBucket", "arn:aws:s3:::events"),  # the event log
        ("s3:GetObject", "arn:aws:s3:::events/*"),
        ("s3:PutObject", "arn:aws:s3:::events/*"),  # feedback's If-Match update of the record
        ("s3:GetObject", "arn:aws:s3:::production/*"),
        ("s3:GetObjectTagging", "arn:aws:s3:::production/*"),
        ("s3:PutObjectTagging", "arn:aws:s3:::production/*"),
    }


def test_the_function_may_work_incoming_and_write_results_and_nothing_more():
    buckets = ("incoming", "production", "quarantine", "events")
    assert rights(function_policy(Settings())) == {
        ("s3:GetObject", "arn:aws:s3:::incoming/*"),
        ("s3:GetObjectVersion", "arn:aws:s3:::incoming/*"),  # the GET and copy of the event's version
        ("s3:DeleteObject", "arn:aws:s3:::incoming/*"),
        ("s3:DeleteObjectVersion", "arn:aws:s3:::incoming/*"),  # the delete of exactly that version
        ("s3:ListBucket", "arn:aws:s3:::incoming"),
        ("s3:ListBucketVersions", "arn:aws:s3:::incoming"),  # the reconciler: versions hidden since, too
        ("s3:PutObject", "arn:aws:s3:::production/*"),
        ("s3:PutObject", "arn:aws:s3:::quarantine/*"),
        ("s3:GetObject", "arn:aws:s3:::production/*"),  # proof that a final record's work exists
        ("s3:GetObject", "arn:aws:s3:::quarantine/*"),
        ("s3:GetObjectTagging", "arn:aws:s3:::production/*"),  # repairing label tags after a lost claim
        ("s3:PutObjectTagging", "arn:aws:s3:::production/*"),
        ("s3:GetObject", "arn:aws:s3:::events/*"),
        ("s3:PutObject", "arn:aws:s3:::events/*"),
        *(("s3:GetBucketNotification", f"arn:aws:s3:::{b}") for b in buckets),
        ("s3:GetBucketVersioning", "arn:aws:s3:::incoming"),  # the start-up check: does incoming keep versions
        ("s3:GetObject", "arn:aws:s3:::models/*"),  # follows the aliases and loads the model they name
        ("s3:ListBucket", "arn:aws:s3:::models"),  # read only: no PutObject on models, the operator decides
    }


def test_policies_follow_the_configured_bucket_names():
    s = Settings(bucket_incoming="in-x", bucket_production="prod-x", bucket_quarantine="q-x", bucket_events="ev-x")
    for policy in (function_policy(s), web_policy(s)):
        buckets = {r.removeprefix("arn:aws:s3:::").split("/")[0] for _, r in rights(policy)}
        assert buckets <= {"in-x", "prod-x", "q-x", "ev-x", "models"}
    assert ("s3:DeleteObject", "arn:aws:s3:::in-x/*") in rights(function_policy(s))


def test_no_wildcards_no_admin_and_deletes_only_in_incoming():
    for policy in (function_policy(Settings()), web_policy(Settings())):
        for action, resource in rights(policy):
            assert "*" not in action and not action.startswith("admin:"), action
            assert resource != "arn:aws:s3:::*"
            if action == "s3:DeleteObject":
                assert resource == "arn:aws:s3:::incoming/*"


def test_each_component_gets_its_own_user_with_the_settings_password():
    s = Settings(web_minio_password="a-web-secret")
    function, web = identities(s)
    assert (function.user, function.policy_name) == ("gourmetgram-function", "gourmetgram-function")
    assert (web.user, web.password, web.policy_name) == ("gourmetgram-web", "a-web-secret", "gourmetgram-web")
    assert function.password == s.component_credentials("function")[1]  # derived from the root password
    assert function.password != s.minio_password and function.password not in repr(function)
    assert {function.password_variable, web.password_variable} <= set(Settings.env_names().values())


@pytest.mark.parametrize(
    "overrides, message",
    [
        pytest.param({"minio_user": "gourmetgram-web"}, "the frontend's MinIO user and MINIO_USER are both", id="root"),
        pytest.param(
            {"function_minio_user": "shared", "web_minio_user": "shared"},
            "the frontend's MinIO user 'shared' is the function's user too",
            id="shared",
        ),
    ],
)
def test_a_component_user_must_be_its_own(overrides, message):
    with pytest.raises(SettingsError, match=message):
        identities(Settings(**overrides))


def test_policies_compare_by_content_as_minio_stores_them():
    policy = web_policy(Settings())
    stored = {
        **policy,
        "Statement": [
            {**st, "Action": sorted(st["Action"], reverse=True), "Resource": list(reversed(st["Resource"]))}
            for st in reversed(policy["Statement"])
        ],
    }
    assert normalized(stored) == normalized(policy)
    wider = {
        **policy,
        "Statement": [
            *policy["Statement"],
            {"Sid": "X", "Effect": "Allow", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::production/*"},
        ],
    }
    assert normalized(wider) != normalized(policy)
    assert normalized(None) != normalized(policy)
