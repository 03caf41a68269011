"""What the AVFF quality runs share (benchmarks/avff_real_quality.py, experiments/avff_quality.py): the
`vocalens avff` command lines of stage 1, stage 2 and evaluation, and what they read back from a run folder.
Each script keeps its own settings; only the shape of the commands is here, so both run AVFF alike."""

from __future__ import annotations

import json
from pathlib import Path


def train_seconds(run: Path) -> float:
    """Training + validation time of a run: the sum of its epochs' `time_s` (metrics.jsonl), so a reused
    run reports the time it took when it was made; decoding into the cache is not included."""
    f = Path(run) / "metrics.jsonl"
    if not f.is_file():
        return float("nan")
    return sum(json.loads(x).get("time_s", 0.0) for x in f.read_text().splitlines() if x.strip())


def pretrain_argv(data, out, epochs, lr, contrastive_weight, clips_per_video, *extra) -> list:
    """Stage 1 (self-supervised) on ``data`` into ``out``, warm-up 0.3 epochs."""
    return [
        *("avff", "pretrain", "--data_root", data, "--output_dir", out, "--epochs", epochs, "--lr", lr),
        *("--warmup_epochs", 0.3, "--contrastive_weight", contrastive_weight, "--clips_per_video", clips_per_video),
        *extra,
    ]


def train_argv(data, out, epochs, lr, *extra) -> list:
    """Stage 2 (the classifier) on ``data`` into ``out``."""
    return ["avff", "train", "--data_root", data, "--output_dir", out, "--epochs", epochs, "--lr", lr, *extra]


def evaluate_argv(checkpoint, data, split, output, cache, *extra) -> list:
    """Evaluate ``checkpoint`` on ``split`` of ``data`` into the JSON ``output``, decoding through ``cache``."""
    return [
        *("avff", "evaluate", "--checkpoint", checkpoint, "--data_root", data, "--split", split),
        *("--output", output, "--cache_dir", cache, *extra),
    ]
