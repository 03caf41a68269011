"""The VOCA-Lens localizer (seeds/000): per-frame fake probabilities, fake segments and a video score
from per-frame visual and audio embeddings, with their cosine similarity as an explicit signal.

  config.py    LocalizerConfig: model, loss, data, fit (the one set of settings; CLI flags come from it)
  model.py     the cross-modal Transformer (knows nothing of files)
  boundary.py  the boundary head: segments regressed directly (pyramid, targets, losses, soft-NMS decoding)
  losses.py    L_frame + a L_video + b L_smooth + g L_similarity + d L_boundary
  data.py      torch Dataset over the feature store: windows, padding masks, sync augmentation
  task.py      the model as a task of the shared training loop (validation metrics, threshold)
  extract.py   videos -> feature store (the seed's prepare_lavdf_features.py)
  predict.py   Predictor: checkpoint -> per-frame probabilities on features
  detect.py    raw video -> VideoResult (decode + the checkpoint's encoders + predict)
  evaluate.py  a feature split -> records -> metrics
"""

from pathlib import Path


def default_checkpoint() -> Path | None:
    """The localizer checkpoint shipped with the package (``vocalens/assets/default_localizer.pth``,
    package data; vocalens.assets), or None when this install ships none."""
    from vocalens.assets import default_localizer

    return default_localizer()
