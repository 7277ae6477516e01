"""`POST /predict`: validate the upload, stream it into `incoming`, answer 202 with its id."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from flask import Blueprint, jsonify, request

from gourmetgram import names
from gourmetgram.store import AlreadyExists, StoreError, stream_length
from ingest import context, tokens
from ingest.validate import check_image, check_size

bp = Blueprint("upload", __name__)
# S3 allows 2 KB of user metadata per object (MinIO refuses more: MetadataTooLarge); the file's name gets half.
MAX_FILENAME_METADATA = 1024


def _refuse(status: int, message: str):
    return jsonify({"error": message}), status


@bp.post("/predict")
def predict():
    s = context.settings()
    upload = request.files.get("file")
    if upload is None:
        return _refuse(400, "no file: send the photo as the multipart field 'file'")
    # Werkzeug spools big uploads to a temporary file: the photo is never held whole in memory.
    stream = upload.stream
    refusal = check_size(stream_length(stream), s.max_upload_bytes)
    if refusal is None:
        fmt, refusal = check_image(stream, s.max_pixels)
    if refusal:
        return _refuse(refusal.status, refusal.message)
    pid = names.upload_id()  # time-ordered: records and production keys list by time
    key = f"{pid}{names.extension(fmt)}"  # the detected format's extension, whatever the file's name says
    token, token_hash = tokens.issue()  # the uploader's alone: feedback needs it, we keep only its hash
    metadata = {
        "prediction-id": pid,
        "source": "web",
        "original-filename": filename_metadata(upload.filename or ""),
        names.FEEDBACK_TOKEN_METADATA: token_hash,
    }
    try:
        # Create-only: if the PUT is sent twice (the SDK retries once after a lost answer), the second finds
        # the first stored and the key keeps one version, so the photo gets one record and one production copy.
        etag = context.store().create(
            s.bucket_incoming, key, stream, content_type=names.content_type(fmt), metadata=metadata
        )
    except AlreadyExists:
        # Only our own first attempt can hold this fresh key; its ETag is the MD5 of these bytes (one PUT).
        # Were it not, the nudge would merely be refused and MinIO's event still bring the photo.
        stream.seek(0)
        etag = hashlib.file_digest(stream, "md5").hexdigest()
    except StoreError as exc:
        return _refuse(503, f"storage is unavailable, please try again: {exc}")
    context.recent_uploads().add(pid)
    context.nudger().nudge(pid, key, etag)
    answer = jsonify({"id": pid, "status": "pending", "poll": f"/predictions/{pid}", "feedback_token": token})
    answer.headers["Cache-Control"] = "no-store"  # it carries a secret
    return answer, 202


def filename_metadata(name: str) -> str:
    """The file's name as metadata: percent-encoded, and cut (at a whole character, marked with "…") to fit."""
    encoded = quote(name, safe="")
    if len(encoded) <= MAX_FILENAME_METADATA:
        return encoded
    ellipsis = quote("…", safe="")
    kept, size = [], len(ellipsis)
    for char in name:
        part = quote(char, safe="")
        if size + len(part) > MAX_FILENAME_METADATA:
            break
        kept.append(part)
        size += len(part)
    return "".join(kept) + ellipsis
