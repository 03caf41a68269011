"""Keep what native libraries print straight to file descriptor 2 off the user's terminal.

mediapipe's TFLite graphs log a few absl/glog lines ("Created TensorFlow Lite XNNPACK delegate",
"Feedback manager requires a model with a single signature ...") when a graph is built and first run;
they bypass Python's ``sys.stderr`` and no environment variable of mediapipe 0.10.21 turns them off.
Only those two moments are silenced (a graph's later errors still show, and Python exceptions are
raised as ever). ``VOCALENS_NATIVE_LOGS=1`` lets them through.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager

_LOCK = threading.Lock()
_STATE = {"depth": 0, "saved": None}  # overlapping blocks (decoding threads) share one redirection


@contextmanager
def quiet_native_stderr():
    """Point fd 2 at /dev/null for the block (process-wide: keep the block short). Blocks of several
    threads may overlap: fd 2 comes back when the last one ends, never to another block's /dev/null."""
    if os.environ.get("VOCALENS_NATIVE_LOGS"):
        yield
        return
    with _LOCK:
        if _STATE["depth"] == 0:
            try:
                sys.stderr.flush()
                saved = os.dup(2)
            except (OSError, ValueError):  # no fd 2 (embedded interpreters): nothing to silence
                saved = None
            if saved is not None:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, 2)
                os.close(null)
            _STATE["saved"] = saved
        _STATE["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["depth"] -= 1
            if _STATE["depth"] == 0 and _STATE["saved"] is not None:
                os.dup2(_STATE["saved"], 2)
                os.close(_STATE["saved"])
                _STATE["saved"] = None
