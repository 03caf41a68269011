"""Flags that every command spells and defaults alike: --face and --device."""

from __future__ import annotations

import argparse

FACE_DEFAULT_HELP = {None: "default: what the checkpoint records, else auto", "auto": "default: auto"}


def add_face(p, default: str | None = "auto") -> None:
    from vocalens.media.crops import FACE_HELP

    p.add_argument("--face", default=default, help=f"{FACE_HELP} ({FACE_DEFAULT_HELP[default]})")


def add_device(p, extra: str = "") -> None:
    from vocalens.train.dist import DEVICE_HELP

    p.add_argument("--device", default="auto", help=f"{DEVICE_HELP} (default: auto){extra}")


def add_legacy_faces(p) -> None:
    """AVFF's former --faces auto|detect|center, kept for old scripts (maps onto --face)."""
    from vocalens.media.crops import LEGACY_FACE

    p.add_argument("--faces", dest="face", choices=sorted(LEGACY_FACE) + ["auto"], help=argparse.SUPPRESS)
