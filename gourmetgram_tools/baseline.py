"""The design GourmetGram replaces, built from its own parts, for `gourmetgram bench` to measure beside it.

The course's app in one process: `POST /predict` (a form upload, field `file`) decodes the photo (exact),
classifies it alone (one forward pass of one image at a time), answers the label, and only then stores the
photo in `production/baseline/class_NN/<uuid><ext>` and writes its three tags (`predicted_class`,
`confidence`, `timestamp`) with two requests from a pool of two threads, as the course's Flask app does
after its call to the model server. One process rather than the course's two (Flask app, FastAPI model
server) spares the baseline an HTTP hop and a base64 round trip: it is, if anything, faster than the
original. `GET /drain` waits until every accepted photo is stored and tagged.

Two variants: by default the model is served as this project serves it (BatchNorm folded, channels-last, traced);
with `--course`, as the course serves it (the plain eager module, BatchNorm not folded, contiguous input): what a
user would run instead of this project.

Run by the bench only: `python -m gourmetgram_tools.baseline --port N [--course]`, settings from the environment.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import click
import torch
from flask import Flask, jsonify, request

from classifier_fn.inference import model, preprocess
from classifier_fn.inference.errors import Rejected
from classifier_fn.running import warm
from gourmetgram import names
from gourmetgram.settings import Settings
from gourmetgram.store import Store

PREFIX = "baseline/"  # in the production bucket: apart from the pipeline's own objects


class Baseline:
    def __init__(self, settings: Settings, store: Store | None = None, course: bool = False):
        self.settings = settings
        self.course = course
        # torch's own default threads, as the course's server (TORCH_THREADS is this project's setting)
        loaded = model.load(settings.model_path).module
        self.module = loaded if course else model.for_inference(loaded)
        warm(self.module, 1)
        self.store = store or Store.connect(settings)
        self.one_at_a_time = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=2)  # the course's app: ThreadPoolExecutor(max_workers=2)
        self.lock = threading.Lock()
        self.pending: list = []
        self.stored = 0
        self.last_stored_at = 0.0

    def classify(self, data: bytes) -> tuple[int, float, str]:
        prepared = preprocess.prepare(data, self.settings.max_pixels)  # exact
        with self.one_at_a_time, torch.inference_mode():
            batch = prepared.tensor[None]
            if not self.course:
                batch = batch.contiguous(memory_format=torch.channels_last)
            probabilities = torch.softmax(self.module(batch), 1)[0]
        probability, index = probabilities.max(0)
        return int(index), float(probability), prepared.format

    def store_later(self, data: bytes, index: int, probability: float, fmt: str) -> None:
        future = self.pool.submit(self._store, data, index, probability, fmt)
        with self.lock:
            self.pending.append(future)

    def _store(self, data: bytes, index: int, probability: float, fmt: str) -> None:
        key = PREFIX + names.production_key(index, str(uuid.uuid4()), names.extension(fmt))
        bucket = self.settings.bucket_production
        self.store.put(bucket, key, data, content_type=names.content_type(fmt))
        self.store.put_tags(
            bucket,
            key,
            {
                "predicted_class": names.class_name(index),
                "confidence": names.confidence_tag(probability),
                "timestamp": names.timestamp_tag(),
            },
        )
        with self.lock:
            self.stored += 1
            self.last_stored_at = time.time()

    def drain(self) -> dict:
        with self.lock:
            pending, self.pending = self.pending, []
        for future in pending:
            future.result()
        with self.lock:
            return {"stored": self.stored, "last_stored_at": self.last_stored_at}


def create_app(baseline: Baseline) -> Flask:
    app = Flask(__name__)

    @app.post("/predict")
    def predict():
        upload = request.files.get("file")
        if upload is None:
            return jsonify({"error": "send the photo as the form field 'file'"}), 400
        data = upload.read()
        try:
            index, probability, fmt = baseline.classify(data)
        except Rejected as exc:
            return jsonify({"error": exc.reason}), 400
        baseline.store_later(data, index, probability, fmt)
        return jsonify({"prediction": names.class_name(index), "probability": probability})

    @app.get("/drain")
    def drain():
        return jsonify(baseline.drain())

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    return app


@click.command()
@click.option("--port", type=int, required=True)
@click.option("--course", is_flag=True, help="Serve the model as the course does: eager, BatchNorm not folded.")
def main(port: int, course: bool) -> None:
    import waitress

    settings = Settings.from_env()
    waitress.serve(create_app(Baseline(settings, course=course)), host="127.0.0.1", port=port, threads=8, _quiet=True)


if __name__ == "__main__":
    main()
