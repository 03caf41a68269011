"""Shared by test_serve.py and test_serve_browser.py: a tiny random checkpoint, polling a job."""

import contextlib
import time


def tiny_checkpoint(path, threshold=0.5):
    """A randomly initialised tiny localizer recording the default encoders, like `vocalens train` writes."""
    import torch

    from vocalens.encoders import build_audio_encoder, build_visual_encoder
    from vocalens.localizer.config import ModelConfig as LocalizerConfig
    from vocalens.localizer.model import Localizer
    from vocalens.train.checkpoint import save_atomic

    v, a = build_visual_encoder("default"), build_audio_encoder("default")
    # no boundary head: a random head's scores sit at its 0.01 prior, so it would show no segment, and the
    # serve tests draw the segments of a curve that crosses the threshold
    cfg = LocalizerConfig(visual_dim=v.dim, audio_dim=a.dim, d_model=32, num_layers=1, nhead=2, boundary_head=False)
    torch.manual_seed(0)
    task = {
        "kind": "vocalens-localizer",
        "model_config": cfg.to_dict(),
        "threshold": threshold,
        "visual_dim": v.dim,
        "audio_dim": a.dim,
        "fps": 25.0,
        "audio_rate": a.rate,
        "visual_encoder": v.config(),
        "audio_encoder": a.config(),
        "max_frames": 128,
        "modality": "both",
    }
    save_atomic({"model": Localizer(cfg).state_dict(), "task": task}, path)
    return path


def wait_job(client, job_id, timeout=120.0, headers=None):
    """Poll GET /api/v1/detections/{id} until done or failed."""
    end = time.time() + timeout
    while time.time() < end:
        r = client.get(f"/api/v1/detections/{job_id}", headers=headers or {})
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} not finished after {timeout} s: {body}")


@contextlib.contextmanager
def live_server(app):
    """A real uvicorn serving ``app`` on a free loopback port, in a thread; yields the base URL."""
    import socket
    import threading

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)
        sock.close()
