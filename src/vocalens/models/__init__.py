"""Models: the VOCA-Lens localizer and its losses (AVFF lives in models/avff.py)."""

from vocalens.models.localizer import Localizer, LocalizerConfig
from vocalens.models.losses import LossConfig, localizer_loss

__all__ = ["Localizer", "LocalizerConfig", "LossConfig", "localizer_loss"]
