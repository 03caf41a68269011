"""vocalens serve: the REST API through FastAPI's TestClient, on real clips and a tiny random model."""

import json
import shutil
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="vocalens[serve] not installed")
pytest.importorskip("httpx", reason="httpx (TestClient) not installed")

from fastapi.testclient import TestClient  # noqa: E402

from serve_helpers import live_server, tiny_checkpoint, wait_job  # noqa: E402
from vocalens.errors import UserError  # noqa: E402
from vocalens.serve.app import Settings, create_app  # noqa: E402

API = "/api/v1/detections"
CLIP = "LipNet__bbaf2n.mpg"  # 3 s, 75 frames


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "best.pth")


@pytest.fixture(scope="module")
def served(checkpoint, tmp_path_factory):
    """One app with the real engine for the module; its data dir."""
    data = tmp_path_factory.mktemp("serve_data")
    app = create_app(Settings(checkpoint=str(checkpoint), data_dir=str(data), max_duration_s=20.0))
    with TestClient(app) as client:
        yield client, data


def post(client, path, name=None, headers=None):
    with open(path, "rb") as f:
        return client.post(API, files={"file": (name or path.name, f, "video/mp4")}, headers=headers or {})


def _approx_equal(a, b, tol=1e-5) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_approx_equal(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_approx_equal(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= tol
    return a == b


def test_approx_equal_is_strict_where_it_must_be():
    assert _approx_equal({"a": [1.0, "x"], "n": 3}, {"a": [1.0 + 1e-7, "x"], "n": 3})
    assert not _approx_equal({"a": [1.0]}, {"a": [1.01]})
    assert not _approx_equal({"a": [1.0]}, {"a": [1.0, 2.0]}) and not _approx_equal({"n": 3}, {"n": 4})
    assert not _approx_equal({"v": "REAL"}, {"v": "FAKE"}) and not _approx_equal({"a": 1}, {"b": 1})


def test_result_equals_detect_json(served, checkpoint, real_clips, tmp_path, monkeypatch):
    from vocalens.cli import main

    client, data = served
    r = post(client, real_clips / CLIP)
    assert r.status_code == 202 and r.headers["location"] == f"{API}/{r.json()['id']}"
    job_id = r.json()["id"]
    body = wait_job(client, job_id)
    assert body["status"] == "done" and body["progress"] == 1.0 and body["error"] is None
    assert body["duration_s"] == pytest.approx(3.0, abs=0.1)
    # vocalens detect on the same file, under the same name
    shutil.copy(real_clips / CLIP, tmp_path / CLIP)
    monkeypatch.chdir(tmp_path)
    assert main(["detect", CLIP, "--checkpoint", str(checkpoint), "--output_dir", "det"]) == 0
    expected = json.loads((tmp_path / "det" / "detections.json").read_text())
    # the same JSON: same keys, texts and counts; floats equal to float32 noise (the worker process and
    # this one may run torch with other thread counts, which reorders float sums)
    assert _approx_equal(body["result"], expected[0])
    assert body["result"]["num_frames"] == 75 and body["result"]["source"] == CLIP
    png = client.get(f"{API}/{job_id}/plot.png")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    video = client.get(f"{API}/{job_id}/video")
    assert video.content == (real_clips / CLIP).read_bytes()
    # the upload is under the job's random folder, never under the client's name
    assert [p.name for p in (data / job_id).iterdir() if p.name.startswith("input")] == ["input.mpg"]
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["workers"] == 1 and health["model"] == "best.pth"
    assert client.delete(f"{API}/{job_id}").status_code == 204
    assert client.get(f"{API}/{job_id}").status_code == 404 and not (data / job_id).exists()
    assert client.delete(f"{API}/{job_id}").status_code == 404


def test_bad_files_fail_with_one_line_error(served, real_clips, tmp_path):
    from vocalens.media.video import write_video

    client, _ = served
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    mute = write_video(tmp_path / "mute.mp4", np.full((50, 96, 80, 3), 120, np.uint8), 25.0, None)
    ids = [post(client, p).json()["id"] for p in (junk, empty, mute)]
    good = post(client, real_clips / CLIP).json()["id"]  # a failing job never takes the next one down
    bodies = [wait_job(client, i) for i in ids]
    assert [b["status"] for b in bodies] == ["failed"] * 3
    errors = [b["error"] for b in bodies]
    assert all("\n" not in e for e in errors)
    assert errors[0].startswith("junk.mp4: cannot open as a video")
    assert errors[1] == "empty.mp4: empty file"
    assert errors[2].startswith("mute.mp4: ") and "no audio track" in errors[2]
    assert not any(str(tmp_path) in e or "serve_data" in e for e in errors)  # no server paths leak
    assert wait_job(client, good)["status"] == "done"


def test_size_and_duration_limits(real_clips, tmp_path):
    data = tmp_path / "data"
    app = create_app(Settings(data_dir=str(data), max_upload_mb=0.1, max_duration_s=2.0), engine_factory=StubEngine)
    clip = real_clips / CLIP  # 450 kB, 3 s
    with TestClient(app) as client:
        r = post(client, clip)  # Content-Length over the limit: refused before reading
        assert r.status_code == 413 and "limit of 0.1 MB" in r.json()["detail"]
        boundary = "vocalensboundary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mpg"\r\n'
            "Content-Type: video/mpeg\r\n\r\n"
        ).encode()

        def body():  # chunked, no Content-Length: refused while streaming
            yield head
            data_bytes = clip.read_bytes()
            for i in range(0, len(data_bytes), 16384):
                yield data_bytes[i : i + 16384]
            yield f"\r\n--{boundary}--\r\n".encode()

        r = client.post(API, content=body(), headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        assert r.status_code == 413 and r.json()["detail"].startswith("big.mpg: larger than")
        small = tmp_path / "small.mp4"
        from vocalens.media.video import write_video

        t = np.arange(int(2.4 * 16000)) / 16000
        write_video(small, np.full((60, 32, 32, 3), 100, np.uint8), 25.0, (0.1 * np.sin(t * 1000)).astype(np.float32))
        assert small.stat().st_size < 0.1 * 2**20
        r = post(client, small)
        assert r.status_code == 422 and "over the server's limit of 2 s" in r.json()["detail"]
        r = client.post(API, data={"x": "1"})
        assert r.status_code == 422 and "multipart" in r.json()["detail"]
        assert list(data.iterdir()) == []  # refused uploads leave nothing behind


def test_no_path_from_the_request(served, real_clips, tmp_path):
    client, data = served
    for url in [
        f"{API}/..%2F..%2Fetc%2Fpasswd",
        f"{API}/../../etc/passwd",
        f"{API}/%2e%2e/plot.png",
        f"{API}/{'0' * 31}g",
        f"{API}/{'a' * 32}/plot.png",
        f"{API}/{'a' * 32}/video",
        "/..%2F..%2Fetc%2Fpasswd",
        "/static/../../etc/passwd",
        "/app.js/..%2F..%2Fpyproject.toml",
    ]:
        r = client.get(url)
        assert 400 <= r.status_code < 500, url
        assert "root:" not in r.text
    r = post(client, real_clips / CLIP, name="../../../evil\\..\\x.mpg")
    job_id = r.json()["id"]
    body = wait_job(client, job_id)
    assert body["name"] == "x.mpg" and body["result"]["source"] == "x.mpg"
    assert not (data.parent / "evil").exists() and not list(data.parent.glob("*.mpg"))
    assert sorted(p.name for p in (data / job_id).iterdir()) == ["input.mpg", "job.json", "plot.png", "result.json"]
    client.delete(f"{API}/{job_id}")


def test_token_required_off_loopback(real_clips, tmp_path):
    with pytest.raises(UserError, match="--token"):
        create_app(Settings(host="0.0.0.0", data_dir=str(tmp_path / "d0")), engine_factory=StubEngine)
    app = create_app(Settings(host="0.0.0.0", token="s3cret", data_dir=str(tmp_path / "d")), engine_factory=StubEngine)
    with TestClient(app) as client:
        assert post(client, real_clips / CLIP).status_code == 401
        assert post(client, real_clips / CLIP, headers={"Authorization": "Bearer wrong"}).status_code == 401
        r = post(client, real_clips / CLIP, headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 202
        job = r.json()["id"]
        assert client.get(f"{API}/{job}").status_code == 401
        assert client.get(f"{API}/{job}/plot.png").status_code == 401
        assert client.delete(f"{API}/{job}").status_code == 401
        assert wait_job(client, job, headers={"Authorization": "Bearer s3cret"})["status"] == "done"
        assert client.get("/healthz").status_code == 200 and client.get("/").status_code == 200


# ---------------------------------------------------------------- the job machinery, with stand-in engines


class StubEngine:
    """Answers in a blink; ``gate`` holds a job until set; a name containing 'boom' raises a bug."""

    checkpoint = "stub.pth"

    def __init__(self, gate=None):
        self.gate = gate

    def detect(self, path, progress_cb, name):
        progress_cb(0.5, "half way")
        if self.gate is not None:
            assert self.gate.wait(30)
        if "boom" in name:
            raise RuntimeError("something broke\nsecond line")
        return {"video_id": name, "source": name, "frame_probs": [0.1, 0.9], "threshold": 0.5, "fps": 25.0}

    def plot(self, result, path):
        path.write_bytes(b"\x89PNG\r\n\x1a\nstub")
        return path


def test_internal_error_is_one_line_and_queue_is_bounded(real_clips, tmp_path):
    gate = threading.Event()
    app = create_app(Settings(data_dir=str(tmp_path / "d"), queue_size=1), engine_factory=lambda: StubEngine(gate))
    with TestClient(app) as client:
        first = post(client, real_clips / CLIP, name="boom.mpg").json()["id"]
        deadline = time.time() + 10
        while client.get(f"{API}/{first}").json()["status"] != "running" and time.time() < deadline:
            time.sleep(0.02)
        running = client.get(f"{API}/{first}").json()
        assert running["status"] == "running" and running["progress"] == 0.5 and running["stage"] == "half way"
        second = post(client, real_clips / CLIP)
        assert second.status_code == 202
        assert client.get(f"{API}/{second.json()['id']}").json()["queue_position"] == 0
        third = post(client, real_clips / CLIP)
        assert third.status_code == 503 and third.headers["retry-after"] == "10"
        gate.set()
        bad = wait_job(client, first)
        assert bad["status"] == "failed"
        assert bad["error"] == "boom.mpg: internal error (RuntimeError: something broke"
        assert wait_job(client, second.json()["id"])["status"] == "done"


def test_finished_jobs_expire(real_clips, tmp_path):
    app = create_app(Settings(data_dir=str(tmp_path / "d"), job_ttl_s=100), engine_factory=StubEngine)
    manager = app.state.manager
    with TestClient(app) as client:
        job = post(client, real_clips / CLIP).json()["id"]
        assert wait_job(client, job)["status"] == "done"
        leftover = tmp_path / "d" / ("f" * 32)  # an upload cut off mid-way: no job.json
        leftover.mkdir()
        (tmp_path / "d" / "not-a-job").mkdir()  # never touched: not one of our ids
        assert manager.reap(time.time() + 50) == 0
        assert manager.reap(time.time() + 101) == 2
        assert client.get(f"{API}/{job}").status_code == 404
        assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["not-a-job"]


def test_replica_sharing_data_dir_answers(real_clips, tmp_path):
    a = create_app(Settings(data_dir=str(tmp_path / "shared")), engine_factory=StubEngine)
    b = create_app(Settings(data_dir=str(tmp_path / "shared")), engine_factory=StubEngine)
    with TestClient(a) as ca, TestClient(b) as cb:
        job = post(ca, real_clips / CLIP).json()["id"]
        wait_job(ca, job)
        body = cb.get(f"{API}/{job}").json()
        assert body["status"] == "done" and body["result"]["frame_probs"] == [0.1, 0.9]
        assert cb.get(f"{API}/{job}/plot.png").status_code == 200


def test_page_and_openapi(served):
    client, _ = served
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'src="app.js"' in page.text and "http" not in page.text.replace('href="docs"', "")  # no CDN, offline
    js, css = client.get("/app.js"), client.get("/style.css")
    assert js.status_code == css.status_code == 200 and "http" not in js.text and "url(" not in css.text
    spec = client.get("/openapi.json").json()
    assert {
        "/api/v1/detections",
        "/api/v1/detections/{job_id}",
        "/api/v1/detections/{job_id}/plot.png",
        "/healthz",
    } <= set(spec["paths"])
    assert "multipart/form-data" in spec["paths"]["/api/v1/detections"]["post"]["requestBody"]["content"]
    assert client.get("/docs").status_code == 200


def test_cli_refuses_open_host_without_token(capsys, monkeypatch):
    from vocalens.cli import main

    monkeypatch.delenv("VOCALENS_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--checkpoint", "none.pth"]) == 2
    assert "give --token" in capsys.readouterr().err


def test_load_on_loopback(checkpoint, real_clips, tmp_path):
    """8 uploads from 4 clients at once to a live uvicorn with 2 workers, an undecodable file among
    them: every job ends done or failed with its one-line error, and the queue drains."""
    import httpx

    clips = sorted(real_clips.glob("LipNet__*.mpg"))[:7]
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(bytes(range(256)) * 200)
    work = clips + [junk]
    app = create_app(Settings(checkpoint=str(checkpoint), data_dir=str(tmp_path / "d"), workers=2))
    out, lock = [], threading.Lock()
    with live_server(app) as url:

        def client(k):
            with httpx.Client(base_url=url, timeout=120) as c:
                for path in work[k::4]:
                    r = post(c, path)
                    assert r.status_code == 202, r.text
                    body = wait_job(c, r.json()["id"])
                    with lock:
                        out.append((path.name, body["status"], body["error"]))

        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        health = httpx.get(url + "/healthz").json()
    assert len(out) == len(work)
    assert sorted(s for n, s, _ in out if n != "junk.mp4") == ["done"] * len(clips)
    assert [e for n, s, e in out if n == "junk.mp4"] == ["junk.mp4: cannot open as a video (InvalidDataError)"]
    assert health["workers"] == 2 and health["queued"] == health["running"] == 0


def test_bad_checkpoint_is_one_line_error_at_start(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError) as e:
        create_app(Settings(checkpoint=str(bad), data_dir=str(tmp_path / "d")))
    assert str(bad) in str(e.value) and "\n" not in str(e.value)


def test_worker_process_death_fails_one_job(served, real_clips):
    """A kill of the child (say, out of memory) mid-job fails that job only; one while idle fails none.
    The worker starts a new child either way."""
    import os
    import signal

    client, _ = served
    worker = client.app.state.manager.workers[0]

    def kill_child():
        for pid in list(worker._pool._processes):
            os.kill(pid, signal.SIGKILL)

    long = post(client, real_clips / "dreamtalk__acknowledgement_english.mp4").json()["id"]  # 16.6 s of work
    deadline = time.time() + 30
    while client.get(f"{API}/{long}").json()["status"] == "queued" and time.time() < deadline:
        time.sleep(0.02)
    kill_child()
    body = wait_job(client, long)
    assert body["status"] == "failed" and body["error"] == (
        "dreamtalk__acknowledgement_english.mp4: internal error (RuntimeError: the worker process died while "
        "decoding this video (out of memory?))"
    )
    kill_child()  # idle
    time.sleep(0.3)
    assert wait_job(client, post(client, real_clips / CLIP).json()["id"])["status"] == "done"
