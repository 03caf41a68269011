"""The one place the server touches the model: ``load_engine(checkpoint, device) -> Engine``.

``Engine.detect`` returns exactly the entry ``vocalens detect`` writes to detections.json for the
same file (``vocalens.load(checkpoint).detect(path).to_json()``), with the upload's own name as ``source`` /
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
    detector: object  # vocalens.result.Detector (vocalens.load)
    device: str
    checkpoint: str

    def detect(self, path: str | Path, progress_cb: ProgressCb | None = None, name: str | None = None) -> dict:
        """One video -> its detections.json entry (standard JSON types). ``name`` is what the user called
        the file; errors are one line naming ``name``, never the server-side path."""
        from vocalens.fileio import clean_json
        from vocalens.viz.report import safe_name

        progress = progress_cb or _no_progress
        path = Path(path)
        name = name or path.name
        progress(0.05, "decoding, finding faces, encoding and scoring")
        try:
            r = self.detector.detect(path, video_id=safe_name(Path(name).stem)).to_json()
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
    """Load the detector (model and encoders) once; ``None`` means the model shipped with vocalens."""
    from vocalens.api import load

    detector = load(checkpoint, device=device)
    if detector.system == "localizer":
        detector.encoders  # noqa: B018 - build the encoders now, not on the first upload
    return Engine(detector, str(device), str(detector.checkpoint))
