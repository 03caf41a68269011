"""Native libraries' fd-2 chatter (mediapipe's start-up lines) is kept off the terminal, and only inside the block."""

import os
import sys

from vocalens.media.native import quiet_native_stderr


def test_fd2_silenced_inside_only(capfd, monkeypatch):
    monkeypatch.delenv("VOCALENS_NATIVE_LOGS", raising=False)
    os.write(2, b"before\n")
    with quiet_native_stderr():
        os.write(2, b"native chatter\n")
    os.write(2, b"after\n")
    print("python stderr still works", file=sys.stderr)
    err = capfd.readouterr().err
    assert "native chatter" not in err
    assert "before" in err and "after" in err and "python stderr still works" in err


def test_env_lets_native_logs_through(capfd, monkeypatch):
    monkeypatch.setenv("VOCALENS_NATIVE_LOGS", "1")
    with quiet_native_stderr():
        os.write(2, b"native chatter\n")
    assert "native chatter" in capfd.readouterr().err


def test_mediapipe_detector_start_up_is_silent():
    """A detector that is built (as `--face auto` checks it) but never run printed its graph's start-up
    lines at interpreter exit; a process that builds one must say nothing on stderr."""
    import subprocess

    import pytest

    from vocalens.media import faces

    if not faces.mediapipe_available():
        pytest.skip("mediapipe not installed")
    code = "from vocalens.media.faces import MediaPipeDetector; d = MediaPipeDetector()"
    env = {k: v for k, v in os.environ.items() if k != "VOCALENS_NATIVE_LOGS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and out.stderr.strip() == ""


def test_overlapping_blocks_of_two_threads_restore_stderr(capfd, monkeypatch):
    """Thread A's block ends while thread B's is open: B's chatter stays silent, and after both the
    terminal's fd 2 is back (B must not restore A's /dev/null)."""
    import threading

    monkeypatch.delenv("VOCALENS_NATIVE_LOGS", raising=False)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def a():
        with quiet_native_stderr():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b():
        a_in.wait(5)
        with quiet_native_stderr():
            b_in.set()
            a_out.wait(5)
            os.write(2, b"b chatter\n")

    ts = [threading.Thread(target=f) for f in (a, b)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    os.write(2, b"after both\n")
    err = capfd.readouterr().err
    assert "b chatter" not in err and "after both" in err
