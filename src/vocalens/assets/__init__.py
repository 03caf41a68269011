"""Files shipped inside the package: the default localizer and the sync encoder it reads features with.

Both are reproduced from a fresh clone by ``make default-model`` (docs/model_card.md) and loaded
without pickle (``torch.load(weights_only=True)`` / safetensors).
"""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent
DEFAULT_LOCALIZER = ASSETS / "default_localizer.pth"


def default_localizer() -> Path | None:
    """The shipped localizer checkpoint, or None in a build without it."""
    return DEFAULT_LOCALIZER if DEFAULT_LOCALIZER.is_file() else None
