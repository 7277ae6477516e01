"""The function's synchronous `POST /predict`: a capped body, bounded concurrency, the workers' decode budget."""

import base64
import contextlib
import http.client
import io
import json
import select
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import uvicorn
from PIL import Image
from starlette.testclient import TestClient

from classifier_fn import runtime
from classifier_fn.app import create_app
from classifier_fn.endpoints.predict import body_limit
from classifier_fn.inference import model, preprocess
from classifier_fn.inference.infer import Prediction
from gourmetgram import names
from tests import phone_photos
from tests.conftest import photo

DEEP = "[" * 100_000 + "]" * 100_000  # Python's json gives up with a RecursionError near 1,000 levels


@pytest.fixture(scope="module")
def demo():
    return model.load(None)


def function_app(settings, fake_store, demo):
    return create_app(settings, store=fake_store, loaded=demo, run_check=False, run_reconciler=False)


@pytest.fixture
def client(settings, fake_store, demo):
    with TestClient(function_app(settings, fake_store, demo)) as c:
        yield c


def image_body(data: bytes) -> bytes:
    return json.dumps({"image": base64.b64encode(data).decode()}).encode()


def counting_receives(app, received: list):
    """The app, with every message it takes from the client's body counted (the lifespan's are not)."""

    async def asgi(scope, receive, send):
        async def counted():
            message = await receive()
            received.append(len(message.get("body", b"")))
            return message

        await app(scope, counted if scope["type"] == "http" else receive, send)

    return asgi


def chunked(app, chunks, received: list):
    """The app, fed a body without Content-Length in `chunks` as a slow client sends it, counting what it took."""

    async def asgi(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != b"content-length"]}

        async def next_chunk():
            chunk = next(chunks, None)
            if chunk is None:
                return {"type": "http.request", "body": b"", "more_body": False}
            received.append(len(chunk))
            return {"type": "http.request", "body": chunk, "more_body": True}

        await app(scope, next_chunk, send)

    return asgi


class BlockingBatcher:
    """Stands in for the model: holds every prediction until the test lets it go."""

    def __init__(self):
        self.entered = threading.Event()
        self.release = threading.Event()

    def predict(self, tensor, timeout=120.0):
        self.entered.set()
        assert self.release.wait(30), "the test never released the batcher"
        return Prediction(9, 0.9)


def test_the_body_limit_is_the_base64_of_the_largest_object():
    assert body_limit(3) == 4 + 1024 and body_limit(25 * 1024 * 1024) == 4 * 8_738_134 + 1024
    assert len(image_body(b"\xff" * 30_000)) <= body_limit(30_000)


def test_a_body_declared_over_the_cap_is_413_before_a_byte_of_it_is_read(settings, fake_store, demo):
    settings = settings.replace(max_object_bytes=3000)
    received = []
    with TestClient(counting_receives(function_app(settings, fake_store, demo), received)) as c:
        r = c.post("/predict", content=b"x" * (body_limit(3000) + 1), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "3,000 bytes" in r.json()["detail"]
    assert received == []  # refused on Content-Length alone


def test_a_streamed_body_is_cut_off_at_the_cap_not_read_whole(settings, fake_store, demo):
    # GIVEN a client streaming 100 MB in 64 KB chunks, without Content-Length, to a 30 KB limit
    settings = settings.replace(max_object_bytes=30_000)
    chunks = (b"A" * 65_536 for _ in range(1600))
    received = []
    with TestClient(chunked(function_app(settings, fake_store, demo), chunks, received)) as c:
        r = c.post("/predict", content=b"", headers={"Content-Type": "application/json"})
    # THEN it is refused after the first chunk past the limit, the rest never read
    assert r.status_code == 413 and "detail" in r.json()
    assert sum(received) <= body_limit(30_000) + 65_536 and len(received) < 1600
    print(f"\nread {sum(received):,} of {1600 * 65_536:,} bytes before the 413")


def test_an_image_over_the_cap_after_decoding_base64_is_413(settings, fake_store, demo):
    settings = settings.replace(max_object_bytes=1000)
    with TestClient(function_app(settings, fake_store, demo)) as c:
        r = c.post("/predict", content=image_body(b"\xff" * 1001), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "1,000 bytes" in r.json()["detail"]


def test_past_predict_concurrency_it_answers_503_at_once_and_takes_requests_again_after(settings, fake_store, demo):
    # GIVEN one prediction allowed at a time, and one in progress (the model holds it)
    settings = settings.replace(predict_concurrency=1)
    batcher = BlockingBatcher()
    with TestClient(function_app(settings, fake_store, demo)) as c, ThreadPoolExecutor(2) as pool:
        c.app.state.runtime.batcher = batcher

        def post():
            return c.post("/predict", content=image_body(photo()), headers={"Content-Type": "application/json"})

        try:
            first = pool.submit(post)
            assert batcher.entered.wait(20)
            # WHEN another arrives, THEN it is refused at once with a hint when to retry, never queued
            second = pool.submit(post).result(timeout=10)
            assert second.status_code == 503 and second.headers["Retry-After"] == "1"
            assert "busy" in second.json()["detail"]
        finally:
            batcher.release.set()
        assert first.result(timeout=20).status_code == 200
        # AND once the first is answered, the slot is free again
        assert post().json() == {"prediction": "Soup", "probability": 0.9}


def test_decoding_runs_in_the_predictions_lane_on_one_of_the_workers_decode_slots(client, monkeypatch):
    rt = client.app.state.runtime
    held_while_decoding = []
    real = preprocess.to_tensor

    def watching(rgb):
        held_while_decoding.append((rt.predict_decodes.in_use(), rt.decode_budget.in_use()))
        return real(rgb)

    monkeypatch.setattr(preprocess, "to_tensor", watching)
    r = client.post("/predict", content=image_body(photo()), headers={"Content-Type": "application/json"})
    width, height = Image.open(io.BytesIO(photo())).size
    # its pixels in its own lane (one decode at a time), and one of the workers' slots, none of their pixels
    assert r.status_code == 200 and held_while_decoding == [((1, width * height), (1, 0))]
    assert rt.predict_decodes.in_use() == (0, 0) and rt.decode_budget.in_use() == (0, 0)  # and given back


@pytest.mark.parametrize("cores", [2, 1], ids=["two-cores", "one-core"])
def test_while_a_prediction_decodes_a_photo_of_max_pixels_a_pipeline_photo_still_decodes_at_once(
    settings, fake_store, demo, monkeypatch, cores
):
    # GIVEN two cores (or a container's one), and a synchronous prediction decoding a photo as large as max_pixels
    monkeypatch.setattr(runtime, "usable_cores", lambda: cores)
    width, height = Image.open(io.BytesIO(photo())).size
    settings = settings.replace(max_pixels=width * height)
    decoding, release = threading.Event(), threading.Event()
    real = preprocess.to_tensor
    pipeline_thread = "pipeline-decode"

    def held_for_predictions(rgb):
        if threading.current_thread().name != pipeline_thread:
            decoding.set()
            assert release.wait(20), "the test never released the prediction's decode"
        return real(rgb)

    monkeypatch.setattr(preprocess, "to_tensor", held_for_predictions)
    with TestClient(function_app(settings, fake_store, demo)) as c, ThreadPoolExecutor(1) as pool:
        rt = c.app.state.runtime
        try:
            prediction = pool.submit(
                c.post, "/predict", content=image_body(photo()), headers={"Content-Type": "application/json"}
            )
            assert decoding.wait(20)
            # WHEN a pipeline photo (a worker's) is decoded meanwhile
            done = []
            worker = threading.Thread(
                name=pipeline_thread,
                daemon=True,
                target=lambda: done.append(preprocess.prepare(photo(), settings.max_pixels, rt.decode_budget)),
            )
            started = time.monotonic()
            worker.start()
            worker.join(10)
            print(
                f"\npipeline photo {'decoded' if done else 'still waiting'} after {time.monotonic() - started:.3f} s"
                " beside the prediction's decode"
            )
            # THEN it did not wait for the prediction's pixels (it used to, for as long as the decode took)
            assert done, "the pipeline photo waited for the prediction's decode"
        finally:
            release.set()
        assert prediction.result(timeout=20).status_code == 200


@pytest.mark.parametrize("fmt", ["HEIC", "HEIF", "AVIF"])
def test_a_phone_photo_is_classified(client, fmt):
    # (decoded as close to its JPEG as the encoder allows: test_preprocess; the demo model's top-1 is too
    # fragile to compare here)
    r = client.post("/predict", json={"image": base64.b64encode(phone_photos.PHONE_FORMATS[fmt]()).decode()})
    assert r.status_code == 200, r.text
    assert r.json()["prediction"] in names.CLASSES and 0 < r.json()["probability"] <= 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"[1]", "not a list", id="list"),
        pytest.param(b'"x"', "not a string", id="string"),
        pytest.param(b"42", "not a number", id="number"),
        pytest.param(b"null", "not null", id="null"),
        pytest.param(b"{nope", "not JSON", id="not-json"),
        pytest.param(DEEP.encode(), "nested too deeply", id="deep-list"),
        pytest.param(b'{"image": ' + DEEP.encode() + b"}", "nested too deeply", id="deep-in-an-object"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_400_never_500(client, fake_store, body, message):
    r = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert message in r.json()["detail"] and '{"image"' in r.json()["detail"]
    assert fake_store.calls == []


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param({"image": "!!!"}, id="not-base64"),
        pytest.param({"image": 42}, id="not-a-string"),
        pytest.param({"picture": "aGVsbG8="}, id="no-image-field"),
    ],
)
def test_an_object_without_a_base64_image_is_422_as_the_course_server(client, doc):
    r = client.post("/predict", json=doc)
    assert r.status_code == 422 and "base64" in r.json()["detail"]


@pytest.fixture
def serve(fake_store, demo):
    """Starts the function with the given settings on a real uvicorn (loopback, a free port), for what only
    a real socket shows; returns (app, port)."""
    running = []

    def start(settings, wrap=lambda app: app):
        app = function_app(settings, fake_store, demo)
        server = uvicorn.Server(uvicorn.Config(wrap(app), host="127.0.0.1", port=0, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        running.append((server, thread))
        for _ in range(400):
            if server.started:
                break
            time.sleep(0.05)
        assert server.started, "uvicorn did not start"
        return app, server.servers[0].sockets[0].getsockname()[1]

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def served(settings, serve):
    return serve(settings.replace(predict_concurrency=1))


def test_a_refused_client_still_sending_a_big_body_reads_its_503(served):
    # GIVEN the only prediction slot taken by a request the model holds
    app, port = served
    batcher = BlockingBatcher()
    app.state.runtime.batcher = batcher
    body = image_body(photo())
    big = image_body(b"\xff" * 8_000_000)  # 10.7 MB of base64: more than the socket buffers hold

    def post(data: bytes):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict", data=data, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, None, json.load(response)
        except urllib.error.HTTPError as exc:  # a reset connection raises URLError instead, and fails the test
            return exc.code, exc.headers.get("Retry-After"), json.load(exc)

    with ThreadPoolExecutor(1) as pool:
        try:
            first = pool.submit(post, body)
            assert batcher.entered.wait(20)
            # WHEN a client sends a big body meanwhile, THEN it gets the 503 (not a reset connection)
            status, retry_after, doc = post(big)
            assert (status, retry_after) == (503, "1") and "busy" in doc["detail"]
        finally:
            batcher.release.set()
        assert first.result(timeout=20)[0] == 200


def post_json(port: int, data: bytes) -> tuple[int, str | None, dict]:
    """(status, Retry-After, JSON) of a `POST /predict` sent whole, at once."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/predict", data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, None, json.load(response)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers.get("Retry-After"), json.load(exc)


class SlowSender:
    """A client that sends its headers (declaring `declared` bytes of body), then its body only when told."""

    def __init__(self, port: int, declared: int = 100_000):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % declared
        )

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def answered(self, within_s: float = 0.0) -> bool:
        return bool(select.select([self.sock], [], [], within_s)[0])

    def answer(self) -> tuple[int, dict]:
        response = http.client.HTTPResponse(self.sock)
        try:
            response.begin()
            return response.status, json.loads(response.read())
        finally:
            response.close()

    def close(self) -> None:
        self.sock.close()


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_four_slow_senders_no_longer_shut_a_normal_request_out(settings, serve):
    # GIVEN four clients (as many as predict_concurrency) that declared 100,000 bytes and sent 11 of them
    assert settings.predict_concurrency == 4
    received = []
    app, port = serve(settings, wrap=lambda app: counting_receives(app, received))
    with contextlib.ExitStack() as stack:
        slow = [stack.enter_context(contextlib.closing(SlowSender(port))) for _ in range(4)]
        for sender in slow:
            sender.send(b'{"image": "')
        assert wait_for(lambda: sum(received) == 44), "the function never read the slow senders' first bytes"
        # WHEN a normal request comes meanwhile
        started = time.monotonic()
        status, _, doc = post_json(port, image_body(photo()))
        elapsed = time.monotonic() - started
        print(f"\nbeside four slow senders, a normal request was answered {status} in {elapsed:.3f} s")
        # THEN it is answered (it used to get 503 for as long as the slow ones kept sending)
        assert status == 200 and doc["prediction"] in names.CLASSES
        # AND the slow senders hold only the bytes they sent (44 of 400,000 declared), still unanswered
        assert app.state.runtime.body_budget.held() == 44
        assert not any(sender.answered() for sender in slow)


def test_a_body_that_trickles_in_is_answered_408_at_its_deadline(settings, serve):
    # GIVEN 2 s plus the length at 100,000 bytes/s: 3 s for 100,000 bytes
    app, port = serve(settings.replace(predict_body_grace_s=2, predict_body_min_bytes_per_s=100_000))
    with contextlib.closing(SlowSender(port, declared=100_000)) as sender:
        started = time.monotonic()
        # WHEN the client sends a byte every 0.4 s for 2.4 s (bytes keep coming: no idle timeout would fire)
        while time.monotonic() - started < 2.4 and not sender.answered():
            sender.send(b"{")
            time.sleep(0.4)
        # THEN it is answered 408 at the deadline (it used to hold its slot for as long as it kept sending)
        assert sender.answered(within_s=20), "no answer within 20 s"
        status, doc = sender.answer()
        elapsed = time.monotonic() - started
    print(f"\n408 after {elapsed:.2f} s (deadline 3.0 s): {doc['detail']}")
    assert status == 408 and "did not arrive in time" in doc["detail"] and "3.0 s" in doc["detail"]
    assert elapsed >= 2.95
    assert app.state.runtime.body_budget.held() == 0


def test_past_the_byte_budget_a_body_is_refused_503_at_once_and_slow_senders_hold_what_they_sent(settings, serve):
    # GIVEN 200,000 bytes for bodies, and four slow senders that declared 100,000 bytes each and sent 1,000
    app, port = serve(settings.replace(predict_body_budget_bytes=200_000, predict_body_grace_s=60))
    budget = app.state.runtime.body_budget
    body = image_body(photo())  # 123,6xx bytes
    with contextlib.ExitStack() as stack:
        slow = [stack.enter_context(contextlib.closing(SlowSender(port))) for _ in range(4)]
        for sender in slow:
            sender.send(b"x" * 1000)
        assert wait_for(lambda: budget.held() == 4000)
        # WHEN a normal request comes, THEN it fits beside what they sent (not what they declared)
        started = time.monotonic()
        status, _, _ = post_json(port, body)
        print(f"\n{len(body):,}-byte body beside 4,000 bytes held: {status} in {time.monotonic() - started:.3f} s")
        assert status == 200 and budget.held() == 4000
        # WHEN one of them sends 80,000 more, THEN a normal request no longer fits: 503 at once, nothing kept
        slow[0].send(b"x" * 80_000)
        assert wait_for(lambda: budget.held() == 84_000)
        started = time.monotonic()
        status, retry_after, doc = post_json(port, body)
        print(f"beside 84,000 bytes held: {status} in {time.monotonic() - started:.3f} s: {doc['detail']}")
        assert (status, retry_after) == (503, "1") and "200,000 bytes" in doc["detail"]
        assert budget.held() == 84_000
        # WHEN that sender goes away, THEN its bytes are given back and a normal request fits again
        slow[0].close()
        assert wait_for(lambda: budget.held() == 3000)
        assert post_json(port, body)[0] == 200
