"""The one place the server touches the model: ``load_engine(checkpoint, device) -> Engine``.

``Engine.detect`` returns exactly the entry ``vocalens detect`` writes to detections.json for the
same file (same calls as ``vocalens.commands.detect``), with the upload's own name as ``source`` /
``file`` instead of the server's random path, so the server never shows where it keeps files.
Swapping the body for another model API touches only this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vocalens.errors import UserError

ProgressCb = Callable[[float, str], None]


def _no_progress(fraction: float, stage: str) -> None:
    pass


@dataclass
class Engine:
    predictor: object
    encoders: object
    device: str
    checkpoint: str

    def detect(self, path: str | Path, progress_cb: ProgressCb | None = None, name: str | None = None) -> dict:
        """One video -> its detections.json entry (standard JSON types). ``name`` is what the user called
        the file; errors are one line naming ``name``, never the server-side path."""
        from vocalens.eval.evaluate import clean_json
        from vocalens.pipeline import detect
        from vocalens.viz.report import safe_name

        progress = progress_cb or _no_progress
        path = Path(path)
        name = name or path.name
        progress(0.05, "decoding, finding faces, encoding and scoring")
        try:
            r = detect(path, self.predictor, self.encoders, device=self.device, video_id=safe_name(Path(name).stem))
        except UserError as e:
            msg = str(e).replace(str(path.resolve()), name).replace(str(path), name)
            raise UserError(msg) from None
        r["source"] = r["file"] = name
        progress(0.9, "scored")
        return clean_json(r)

    def plot(self, result: dict, path: str | Path) -> Path:
        """The time-series PNG ``vocalens detect --plot`` draws."""
        from vocalens.viz.plots import plot_video

        return plot_video(result, path, result["threshold"])


def load_engine(checkpoint: str | Path | None, device: str = "cpu") -> Engine:
    """Load the localizer and its encoders once; ``None`` means the model shipped with vocalens."""
    from vocalens.assets import default_localizer
    from vocalens.inference import Predictor
    from vocalens.pipeline import load_encoders

    if checkpoint is None:
        checkpoint = default_localizer()
        if checkpoint is None:
            raise UserError("no --checkpoint given and this build of vocalens ships no default model "
                            "(make it with `make default-model`)")
    predictor = Predictor.from_checkpoint(checkpoint, device)
    encoders = load_encoders(predictor.config, device, source=str(checkpoint))
    return Engine(predictor, encoders, str(device), str(checkpoint))
