"""The library's front door, as openai/whisper's ``load_model()`` + ``transcribe()``:

    import vocalens
    det = vocalens.load("runs/localizer/best.pth")       # or an AVFF checkpoint; None = the shipped model
    r = det.detect("clip.mp4")                          # -> VideoResult
    print(r.verdict_line()); r.to_json()                # one detections.json entry
    det.evaluate("feats", "test")                       # localizer: a feature split; AVFF: a dataset

:func:`load` reads the checkpoint once and picks the system by what it records; :func:`detect_files`
is `vocalens detect`: many files, detections.json, optional PNGs, one bad file never stops the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from vocalens.errors import UserError
from vocalens.result import Detector, VideoResult


def load(
    checkpoint: str | Path | None = None,
    *,
    device: str = "auto",
    visual_weights: str | None = None,
    audio_weights: str | None = None,
) -> Detector:
    """A Detector for ``checkpoint`` (a file or a run folder -> best.pth): the localizer's or AVFF's by the
    checkpoint's contents. ``None`` = the model shipped with the package. ``visual_weights`` /
    ``audio_weights`` relocate the localizer's encoder weights (folders moved since extraction)."""
    from vocalens.train import checkpoint as ckpt_io

    if checkpoint is None:
        from vocalens.assets import DEFAULT_LOCALIZER
        from vocalens.localizer import default_checkpoint

        checkpoint = default_checkpoint()
        if checkpoint is None:
            raise UserError(
                f"no checkpoint given and this build of vocalens ships no default model ({DEFAULT_LOCALIZER}; "
                "make it with `make default-model`); pass --checkpoint (a localizer or AVFF checkpoint)"
            )
    path = ckpt_io.resolve(checkpoint)
    task = ckpt_io.load(path).get("task") or {}
    from vocalens.localizer.config import CHECKPOINT_KIND

    if task.get("kind") == CHECKPOINT_KIND:
        from vocalens.localizer.detect import LocalizerDetector

        return LocalizerDetector.from_checkpoint(path, device, visual_weights, audio_weights)
    if "avff_config" in task:
        from vocalens.avff.detect import AVFFDetector

        return AVFFDetector.from_checkpoint(path, device)
    raise UserError(f"{path}: neither a localizer nor an AVFF checkpoint (kind={task.get('kind')!r})")


def unique_ids(videos) -> list[str]:
    """A file-name-safe id per video; two files with the same name in different folders get _2, _3, ..."""
    from vocalens.viz.report import safe_name

    used, out = set(), []
    for video in videos:
        name = safe_name(Path(video).stem)
        vid, k = name, 1
        while vid in used:
            k += 1
            vid = f"{name}_{k}"
        used.add(vid)
        out.append(vid)
    return out


def detect_files(
    detector: Detector, videos, output_dir: str | Path = "detections", *, plot: bool = False, **opts
) -> Iterator[VideoResult | UserError]:
    """Detect each file in turn, yielding its VideoResult (or the UserError that answered it), then write
    ``output_dir/detections.json`` (failed files as ``{source, error}``) and, with ``plot``, a PNG per video."""
    from vocalens.fileio import write_json
    from vocalens.viz.plots import plot_video

    out = Path(output_dir)
    entries = []
    for video, vid in zip(videos, unique_ids(videos)):
        try:
            r = detector.detect(video, video_id=vid, **opts)
        except UserError as e:
            entries.append({"source": str(video), "error": str(e)})
            yield e
            continue
        if plot:
            r.plot = str(plot_video(r.to_json(), out / f"{vid}.png", r.threshold))
        entries.append(r.to_json())
        yield r
    write_json(out / "detections.json", entries)  # one video per line
