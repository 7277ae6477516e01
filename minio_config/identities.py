"""Each component's own MinIO identity and the policy that says what it may do, built from Settings. Pure.

Root credentials serve `configure` alone; the function and the frontend each run as a user of their own
whose policy grants exactly the S3 calls their code makes (docs/security.md says why each is there).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gourmetgram import model_registry
from gourmetgram.settings import Settings, SettingsError

COMPONENTS = ("function", "web")
NAMES = {"function": "function", "web": "frontend"}  # what people call them
POLICY_NAMES = {"function": "gourmetgram-function", "web": "gourmetgram-web"}
_USER_NAMES = {"function": "the function's MinIO user", "web": "the frontend's MinIO user"}


@dataclass(frozen=True)
class Identity:
    component: str  # "function" or "web"
    user: str
    password: str = field(repr=False)
    policy_name: str
    policy: dict = field(hash=False)

    @property
    def name(self) -> str:
        return NAMES[self.component]

    @property
    def password_variable(self) -> str:
        """The setting that holds the password (FUNCTION_MINIO_PASSWORD, WEB_MINIO_PASSWORD)."""
        return f"{self.component.upper()}_MINIO_PASSWORD"


def _bucket(name: str) -> str:
    return f"arn:aws:s3:::{name}"


def _objects(name: str) -> str:
    return f"arn:aws:s3:::{name}/*"


def _policy(*statements: tuple[str, list[str], list[str]]) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
            for sid, actions, resources in statements
        ],
    }


def function_policy(s: Settings) -> dict:
    return _policy(
        # GET of a photo (also the source of the CopyObject into production; HEAD for the nudge), and its
        # delete when done, both of one exact version. The pinned MinIO checks only s3:GetObject and
        # s3:DeleteObject for those (checked: the version rights alone are refused, and not needed beside
        # them); S3 asks the version rights for requests naming a version, so they are granted too.
        (
            "WorkIncoming",
            ["s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject", "s3:DeleteObjectVersion"],
            [_objects(s.bucket_incoming)],
        ),
        # The reconciler lists the backlog; the readiness ping (ListBuckets) is answered from this right.
        ("ReconcileIncoming", ["s3:ListBucket", "s3:ListBucketVersions"], [_bucket(s.bucket_incoming)]),
        # CopyObject destinations, tags in the same request (MinIO asks no s3:PutObjectTagging for that).
        ("WriteResults", ["s3:PutObject"], [_objects(s.bucket_production), _objects(s.bucket_quarantine)]),
        # A final record is no proof of work (the frontend may write records, for labels): before deleting a
        # photo, the function HEADs the copy the record names. A worker whose claim lapsed writes the label
        # tags again from the record after its own late copy replaced them (PutObject on production already
        # lets it replace an object, tags and all: these add no power).
        ("CheckResults", ["s3:GetObject"], [_objects(s.bucket_production), _objects(s.bucket_quarantine)]),
        ("RepairLabelTags", ["s3:GetObjectTagging", "s3:PutObjectTagging"], [_objects(s.bucket_production)]),
        # Claims: conditional PUTs of records, and reading a record someone else wrote.
        ("ClaimAndRecord", ["s3:GetObject", "s3:PutObject"], [_objects(s.bucket_events)]),
        # The start-up check reads the subscription of all four buckets (classifier_fn/pipeline/startup_check.py),
        # and whether `incoming` keeps versions.
        ("CheckSubscriptions", ["s3:GetBucketNotification"], [_bucket(b) for b in s.buckets]),
        ("CheckVersioning", ["s3:GetBucketVersioning"], [_bucket(s.bucket_incoming)]),
        # The function follows the aliases and loads the model they name; only the operator (root) writes
        # models and aliases, so a compromised function cannot choose what labels production.
        ("ReadModels", ["s3:GetObject"], [_objects(model_registry.BUCKET)]),
        ("ListModels", ["s3:ListBucket"], [_bucket(model_registry.BUCKET)]),
    )


def web_policy(s: Settings) -> dict:
    return _policy(
        # POST /predict streams the photo into incoming (one PUT with its metadata).
        ("UploadIntoIncoming", ["s3:PutObject"], [_objects(s.bucket_incoming)]),
        # GET /predictions/<id> lists incoming with the id as prefix: "queued" or "unknown". Not GetObject:
        # the frontend never reads a photo back.
        ("TellQueuedFromUnknown", ["s3:ListBucket"], [_bucket(s.bucket_incoming)]),
        # The event log lists the records; the long-poll and feedback read them, feedback rewrites one
        # with If-Match.
        ("ListRecords", ["s3:ListBucket"], [_bucket(s.bucket_events)]),
        ("ReadAndUpdateRecords", ["s3:GetObject", "s3:PutObject"], [_objects(s.bucket_events)]),
        # Feedback merges corrected_class/flagged into the production object's tags (docs/contract.md#tags).
        (
            "ReadAndTagProduction",
            ["s3:GetObject", "s3:GetObjectTagging", "s3:PutObjectTagging"],
            [_objects(s.bucket_production)],
        ),
    )


_POLICIES = {"function": function_policy, "web": web_policy}


def identities(settings: Settings) -> tuple[Identity, ...]:
    """The two identities `configure` creates; refuses user names MinIO could not tell apart from root."""
    found = []
    for component in COMPONENTS:
        user, password = settings.component_credentials(component)
        variable = _USER_NAMES[component]
        if user == settings.minio_user:
            raise SettingsError(
                f"{variable} and MINIO_USER are both {user!r}: configure runs with MinIO's root "
                f"credentials in MINIO_USER/MINIO_PASSWORD and gives the {NAMES[component]} a user "
                f"of its own"
            )
        if any(user == other.user for other in found):
            raise SettingsError(
                f"{variable} {user!r} is the {NAMES[found[0].component]}'s user too: each component needs its own"
            )
        found.append(Identity(component, user, password, POLICY_NAMES[component], _POLICIES[component](settings)))
    return tuple(found)


def normalized(policy: dict | None) -> object:
    """A policy in a form where equal rights compare equal (MinIO sorts actions and resources when it stores)."""
    if policy is None:
        return None

    def as_set(value) -> tuple[str, ...]:
        return tuple(sorted([value] if isinstance(value, str) else value or []))

    statements = []
    for st in policy.get("Statement", []):
        statements.append(
            (
                st.get("Sid", ""),
                st.get("Effect", ""),
                as_set(st.get("Action")),
                as_set(st.get("NotAction")),
                as_set(st.get("Resource")),
                as_set(st.get("NotResource")),
                repr(sorted((st.get("Condition") or {}).items())),
            )
        )
    return policy.get("Version", ""), tuple(sorted(statements))
