"""The demo's numbers are a function of its seed: the videos vocalens writes are the same bytes on every
run (libx264's defaults were not: a different file in each of 6 encodes here) and the demo's torch
stages run with one fixed thread count, whatever the machine."""

import hashlib
import threading

import numpy as np
import torch

from vocalens.commands import demo
from vocalens.media.video import load_video, write_video


def _moving_blob(t: int = 40, h: int = 96, w: int = 96) -> np.ndarray:
    """A noisy bright blob sliding left and right: content on which libx264's defaults gave a different
    file in each of 6 encodes (the macroblock-tree rate control's CPU-specific assembly)."""
    rng = np.random.default_rng(0)
    tt, yy, xx = np.arange(t)[:, None, None], np.arange(h)[None, :, None], np.arange(w)[None, None, :]
    g = 128 + 100 * np.exp(-((xx - w / 2 - 20 * np.sin(tt / 5)) ** 2 + (yy - h / 2) ** 2) / 200)
    g = g + rng.normal(0, 8, (t, h, w))
    return np.repeat(np.clip(g, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


def _busy(stop: threading.Event) -> None:
    a = np.random.default_rng(1).random((300, 300))
    while not stop.is_set():
        a = np.tanh(a @ a)  # numpy releases the GIL: the encoder shares the CPU with this thread


def test_write_video_gives_the_same_bytes_every_time_even_under_load(tmp_path):
    frames = _moving_blob()
    audio = np.sin(np.arange(16000 * 40 // 25) / 20).astype(np.float32) * 0.3
    digests, decoded = [], []
    for i in range(4):
        stop = threading.Event()
        busy = [threading.Thread(target=_busy, args=(stop,)) for _ in range(2 if i % 2 else 0)]
        for b in busy:
            b.start()
        try:
            path = write_video(tmp_path / f"v{i}.mp4", frames, audio=audio)
        finally:
            stop.set()
            for b in busy:
                b.join()
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
        m = load_video(path)
        decoded.append(hashlib.sha256(m.frames.tobytes() + m.audio.tobytes()).hexdigest())
    assert len(set(digests)) == 1, digests
    assert len(set(decoded)) == 1


def test_demo_runs_its_stages_with_a_fixed_thread_count_and_puts_the_old_one_back(monkeypatch):
    seen = []
    monkeypatch.setattr(demo, "_run", lambda args: seen.append(torch.get_num_threads()) or 0)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        args = demo.argparse.Namespace(threads=demo.DEMO_THREADS)
        assert demo.run(args) == 0
        assert seen == [demo.DEMO_THREADS] and torch.get_num_threads() == 1
        assert demo.run(demo.argparse.Namespace(threads=3)) == 0
        assert seen[-1] == 3
    finally:
        torch.set_num_threads(before)
