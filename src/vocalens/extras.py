"""Optional parts of vocalens and the pip extra that installs each, in one place.

The default pipeline (extract with the default encoders, train, detect, demo) needs only the core
dependencies; the Hugging Face encoders and AVFF need ``[hf]``, ArcFace needs ``[onnx]``, the web
server ``[serve]``. A missing one is a one-line error naming the extra, not a traceback.
"""

from __future__ import annotations

import importlib

from vocalens.errors import UserError

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
