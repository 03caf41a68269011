"""AVFF evaluation: score every labelled video of a dataset (through the detector, the same path as
`detect`) and report video-level AUC / AP / accuracy / F1, overall and by manipulation type."""

from __future__ import annotations

from tqdm import tqdm

from vocalens.avff.predict import metrics_by_manipulation
from vocalens.errors import MediaError, UserError


def evaluate_source(
    detector,
    source,
    split: str = "test",
    *,
    metadata=None,
    threshold: float | None = None,
    pool: str = "max",
    hop: int | None = None,
    batch_size: int = 8,
    face: str = "auto",
    cache_dir=None,
    limit: int | None = None,
    progress: bool = True,
) -> dict:
    """``source``: a LAV-DF / AV-Deepfake1M folder (its ``split``) or a CSV of ``path,label``.
    Undecodable videos are reported in ``skipped`` and left out."""
    from vocalens.avff.data import read_items

    csv = str(source).endswith(".csv")
    items = [it for it in read_items(source, None if csv else [split], metadata) if it.label >= 0]
    items = items[:limit] if limit else items
    if not items:
        raise UserError(f"{source}: no labelled videos in split {split!r}")
    threshold = float(threshold if threshold is not None else detector.threshold)
    videos, skipped = [], []
    for it in tqdm(items, desc="avff evaluate", unit="video", disable=not progress):
        try:
            r = detector.detect(
                it.path,
                face=face,
                threshold=threshold,
                pool=pool,
                hop=hop,
                batch_size=batch_size,
                video_id=it.video_id,
                cache_dir=cache_dir,
            )
        except MediaError as e:
            skipped.append(str(e))
            tqdm.write(f"skipped: {e}")
            continue
        videos.append(
            {
                "video_id": it.video_id,
                "path": str(it.path),
                "label": it.label,
                "manipulation": it.manipulation,
                "score": r.video_prob,
                "clip_scores": [c["score"] for c in r.extra["clips"]],
            }
        )
    if not videos:
        raise UserError("avff evaluate: no video could be decoded")
    metrics = metrics_by_manipulation(
        [v["label"] for v in videos], [v["score"] for v in videos], [v["manipulation"] for v in videos], threshold
    )
    return {
        "checkpoint": detector.checkpoint,
        "split": split,
        "threshold": threshold,
        "pool": pool,
        "metrics": metrics,
        "skipped": skipped,
        "videos": videos,
    }


def format_table(metrics: dict) -> str:
    """The report as a markdown table: one row per subset."""
    lines = ["| subset | videos | fakes | AUC | AP | accuracy | F1 |", "|---|---|---|---|---|---|---|"]
    for k, m in metrics.items():
        lines.append(
            f"| {k} | {m['n']} | {m['n_fake']} | {m['auc']:.4f} | {m['ap']:.4f} | {m['accuracy']:.4f} | {m['f1']:.4f} |"
        )
    return "\n".join(lines)
