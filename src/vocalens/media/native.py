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
from contextlib import contextmanager


@contextmanager
def quiet_native_stderr():
    """Point fd 2 at /dev/null for the block (process-wide: keep the block short)."""
    if os.environ.get("VOCALENS_NATIVE_LOGS"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no fd 2 (embedded interpreters): nothing to silence
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
