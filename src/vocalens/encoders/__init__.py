"""The encoder registry: one name -> one class that turns a video's faces or audio into features.

A visual encoder has ``.name``, ``.dim``, ``.config()`` and ``.encode(faces [T,H,W,3] uint8 RGB)
-> [T, dim] float32`` (the whole video at once, so temporal features are possible; it batches
internally). An audio encoder also has ``.rate`` (Hz of its output frames) and
``.encode(wave [N] float32, 16 kHz mono) -> [Ta, dim] float32``.

A video is streamed through a visual encoder block by block (vocalens.localizer.extract.encode_faces):
the encoder takes the blocks itself with ``encode_stream(chunks) -> [T, dim]`` (the sync encoder: each
block with its temporal context), or ``encode`` must be per-frame, or the encoder splits it into
``encode_local(faces)`` (per frame, kept for the whole video) and ``encode_global(local)`` (over the
whole video: a per-video normalisation), with ``encode(x) == encode_global(encode_local(x))``. The
audio is streamed from the file (vocalens.localizer.extract.encode_audio): an audio encoder with
``encode_stream(read, num_samples)`` calls ``read()`` for each pass it needs over the track's blocks
(the default and sync encoders: statistics, then features); others get the whole wave.

``config()`` is what meta.json and checkpoints record: ``{"name": ..., ...}``, enough to rebuild
the encoder with ``build_*_encoder(**config)`` (plus ``weights``/``device``).

Other modules add encoders with ``@register_visual("avff")`` / ``@register_audio("avff")``.
"""

from __future__ import annotations

import importlib
from typing import Callable

from vocalens.errors import UserError

_VISUAL: dict[str, Callable] = {}
_AUDIO: dict[str, Callable] = {}

# modules imported on first use so that `vocalens --help` and the default encoders never import transformers
# AVFF registers its stage-1 streams as encoders (a plugin: named here, not imported)
_AVFF = ("vocalens.avff.encoder",)
_LAZY = {
    "visual": {
        "default": ("vocalens.encoders.default_visual",),
        "vit": ("vocalens.encoders.hf",),
        "avff": _AVFF,
        "sync": ("vocalens.encoders.sync",),
        "arcface": ("vocalens.encoders.arcface",),
    },
    "audio": {
        "default": ("vocalens.encoders.default_audio",),
        "wav2vec2": ("vocalens.encoders.hf",),
        "avff": _AVFF,
        "sync": ("vocalens.encoders.sync",),
        "hubert": ("vocalens.encoders.hubert",),
    },
}


def register_visual(name: str):
    """Class decorator: ``cls(weights=None, device='cpu', **opts)`` becomes visual encoder ``name``."""

    def deco(cls):
        _VISUAL[name] = cls
        return cls

    return deco


def register_audio(name: str):
    """Class decorator: ``cls(weights=None, device='cpu', **opts)`` becomes audio encoder ``name``."""

    def deco(cls):
        _AUDIO[name] = cls
        return cls

    return deco


def _lookup(kind: str, table: dict, name: str):
    for module in _LAZY[kind].get(name, ()) if name not in table else ():
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:  # the module exists but something it needs does not
                from vocalens.extras import missing_message

                raise UserError(
                    missing_message(e, f"{kind} encoder {name!r}")
                    or f"{kind} encoder {name!r}: cannot import {module} ({e})"
                )
    if name not in table:
        raise UserError(f"unknown {kind} encoder {name!r} (choose from {', '.join(available_encoders()[kind])})")
    return table[name]


def build_visual_encoder(name: str = "default", weights=None, device="cpu", **opts):
    """A visual encoder by registry name; ``opts`` are the encoder's settings (see its ``config()``)."""
    opts.pop("dim", None)  # recorded by config(), implied by the other settings
    return _lookup("visual", _VISUAL, name)(weights=weights, device=device, **opts)


def build_audio_encoder(name: str = "default", weights=None, device="cpu", **opts):
    """An audio encoder by registry name; ``opts`` are the encoder's settings (see its ``config()``)."""
    opts.pop("dim", None)
    opts.pop("rate", None)
    return _lookup("audio", _AUDIO, name)(weights=weights, device=device, **opts)


def available_encoders() -> dict[str, list[str]]:
    """{'visual': [...], 'audio': [...]}: registered names plus the built-in ones not yet imported."""
    return {"visual": sorted(set(_VISUAL) | set(_LAZY["visual"])), "audio": sorted(set(_AUDIO) | set(_LAZY["audio"]))}
