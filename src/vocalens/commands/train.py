"""Train the VOCA-Lens localizer on extracted features (the seed's train_lavdf_localization.py).

One process:    vocalens train --features_root feats --splits train dev --output_dir ckpt
Many (DDP):     torchrun --nproc_per_node=4 -m vocalens train --features_root feats ...
Resume:         vocalens train --features_root feats --resume ckpt/checkpoint_epoch50.pth --epochs 150

Each epoch validates on the second split; best.pth is the epoch with the highest frame AP there
(--best_metric to change), last.pth the latest, checkpoint_epoch{N}.pth every --save_every epochs.
Every flag is a field of vocalens.localizer.config.LocalizerConfig (its default and reason live there).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from vocalens.config import add_flags, from_args
from vocalens.errors import batch_exit
from vocalens.localizer.config import DataConfig, LocalizerConfig, LossConfig, ModelConfig, localizer_fit
from vocalens.train.loop import FitConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_flags(p.add_argument_group("data"), DataConfig)
    add_flags(p.add_argument_group("training loop"), FitConfig, localizer_fit())
    add_flags(p.add_argument_group("model"), ModelConfig)
    add_flags(p.add_argument_group("loss"), LossConfig)


def config_from_args(args) -> LocalizerConfig:
    return LocalizerConfig(
        data=from_args(DataConfig, args),
        model=from_args(ModelConfig, args),
        loss=from_args(LossConfig, args),
        fit=from_args(FitConfig, args, localizer_fit()),
    ).validate()


def run(args) -> int:
    from vocalens.localizer.task import LocalizerTask
    from vocalens.train.loop import fit

    cfg = config_from_args(args)
    task = LocalizerTask(cfg)
    main = int(os.environ.get("RANK", 0)) == 0
    if main:
        print(
            f"train: {len(task.train_ds.paths)} videos ({len(task.train_ds)} windows), "
            f"val: {len(task.val_ds.paths) if task.val_ds else 0} videos; features "
            f"{task.model_cfg.visual_dim}/{task.model_cfg.audio_dim}-d; pos_weight {task.loss_cfg.pos_weight:.3f}"
        )
    result = fit(task, cfg.fit)
    if not main:
        return 0
    metric = cfg.fit.best_metric or task.best_metric
    print(
        json.dumps(
            {"best_" + metric: result.best_score, "best_epoch": result.best_epoch, "output_dir": cfg.fit.output_dir}
        )
    )
    # the one exit rule of commands over many files (vocalens.errors.batch_exit): the run finished without them
    skipped = [line for ds in (task.train_ds, task.val_ds) if ds is not None for line in ds.unreadable()]
    for line in skipped:
        print(f"error: {line}", file=sys.stderr)
    if skipped:
        print(f"train: {len(skipped)} feature folders skipped (unreadable)", file=sys.stderr)
    return batch_exit(len(skipped))
