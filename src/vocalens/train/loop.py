"""The training loop shared by every vocalens model: one process or many (torchrun / DDP).

A *task* says what is trained; `fit(task, cfg)` does the rest: process group, device, seeding,
samplers (identical global batches on 1 or N processes), DDP wrapping, bf16 autocast on CUDA,
AdamW with linear warmup + cosine, gradient clipping, validation over *all* ranks' predictions,
checkpoints (``best.pth``, ``last.pth``, ``checkpoint_epoch{N}.pth``, written atomically),
exact ``--resume``, TensorBoard, ``metrics.jsonl`` and a progress bar. Only rank 0 writes.

The task interface (duck-typed; subclass :class:`Task` for the defaults)::

    class MyTask(Task):
        unit = "frames"                  # what the progress bar counts (frames/s)
        best_metric = "frame_ap"         # key of validate()'s dict that picks best.pth
        best_mode = "max"                # or "min"
        find_unused_parameters = False   # DDP flag, for models with branches a batch may skip

        def build_model(self) -> nn.Module: ...             # on CPU; the loop moves and wraps it
        def train_dataset(self) -> Dataset: ...             # map-style, len() + __getitem__
        def val_dataset(self) -> Dataset | None: ...        # None: no validation
        def lengths(self, dataset) -> list[int] | None      # optional: per-item length -> length buckets
        def collate(self, items) -> batch                   # dict/list/tuple of tensors (+ anything else)
        def step(self, model, batch) -> (loss, logs)        # training forward; `model` may be DDP-wrapped,
                                                            # call it (not model.module) so gradients sync;
                                                            # logs: {name: float or 0-d tensor} to average
        def count(self, batch) -> int                       # units in this batch (default: batch size)
        def predict(self, model, batch) -> list             # eval forward (unwrapped model, no_grad):
                                                            # one picklable item per sample (numpy, not tensors)
        def validate(self, outputs: list) -> dict[str, float]  # outputs of ALL ranks, in one list (rank 0)
        def checkpoint_extra(self, metrics) -> dict         # what inference needs (configs, dims, threshold);
                                                            # stored as ckpt["task"]; weights_only-safe types
        def param_groups(self, model, weight_decay) -> list # optional: AdamW groups (a group's "lr_scale"
                                                            # multiplies the run's lr for it)

Batches are moved to the device recursively (tensors inside dicts/lists/tuples). `step` runs under
autocast; compute losses in float32 (``logits.float()``). A checkpoint holds ``model`` (state dict
of the unwrapped model), ``optimizer``, ``scheduler``, ``epoch`` (completed, 1-based), ``best``
(``{metric, mode, score, epoch}``), ``rng``, ``config`` (the FitConfig as a dict), ``metrics`` (that
epoch's validation) and ``task`` (``checkpoint_extra``). `fit` returns a :class:`FitResult`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from vocalens.config import flag
from vocalens.errors import UserError
from vocalens.fileio import atomic_path, remove_stale_temps
from vocalens.train import checkpoint as ckpt_io
from vocalens.train import dist
from vocalens.train.dist import DEVICE_HELP
from vocalens.train.sampler import GlobalBatchSampler, ShardBatchSampler
from vocalens.train.schedule import build_scheduler


@dataclass
class FitConfig:
    """The training loop's settings, shared by both systems (flags: vocalens.config.add_flags). A system
    whose tuned defaults differ (AVFF) passes its own FitConfig as the flags' defaults."""

    output_dir: str = flag(help="run folder: best.pth, last.pth, checkpoint_epoch{N}.pth, metrics.jsonl, TensorBoard")
    epochs: int = flag(100, "epochs to train (a resumed run continues to this epoch)")
    batch_size: int = flag(8, "items per process and step; the global batch is batch_size * world_size")
    val_batch_size: int | None = None  # default: batch_size
    lr: float = flag(1e-4, "peak learning rate (AdamW)")
    weight_decay: float = flag(0.01, "AdamW weight decay of matrices (biases and norms: none)")
    warmup_epochs: float = flag(5.0, "linear warmup, then cosine decay to 0")
    min_lr_ratio: float = 0.0  # the cosine ends at this fraction of lr
    grad_clip: float = flag(1.0, "max gradient norm (0: off)")
    seed: int = flag(42, "random seed (a resumed run keeps its own)")
    num_workers: int = flag(2, "data loading processes per training process")
    device: str = flag("auto", DEVICE_HELP)
    amp: bool = flag(True, "no bf16 autocast on CUDA", name="--no_amp")
    resume: str | None = flag(None, "checkpoint (or run folder -> last.pth) to continue from exactly")
    best_metric: str | None = flag(None, "validation metric that picks best.pth (default: the task's, e.g. frame_ap)")
    best_mode: str | None = None  # 'max' | 'min'; default: the task's
    save_every: int = flag(1, "write checkpoint_epoch{N}.pth every N epochs (0: never)")
    stop_after_epoch: int | None = flag(
        None, "end this run cleanly after that epoch (for time-sliced jobs; --resume continues)", type=int
    )
    progress: bool = flag(True, "no progress bar", name="--no_progress")
    log_every: int = 10  # TensorBoard scalars every N steps
    tensorboard: bool = True


@dataclass
class FitResult:
    model: nn.Module  # unwrapped, on the training device, final weights
    history: list[dict] = field(default_factory=list)  # one record per epoch (also in metrics.jsonl)
    best_score: float | None = None
    best_epoch: int | None = None
    last_metrics: dict = field(default_factory=dict)


class Task:
    """Defaults for the optional parts of the task interface (see the module docstring)."""

    unit = "items"
    best_metric = "train_loss"
    best_mode = "min"
    find_unused_parameters = False

    def val_dataset(self):
        return None

    def lengths(self, dataset):
        return getattr(dataset, "lengths", None)

    def collate(self, items):
        return torch.utils.data.default_collate(items)

    def count(self, batch) -> int:
        first = batch[next(iter(batch))] if isinstance(batch, dict) else batch[0]
        return int(len(first))

    def validate(self, outputs: list) -> dict:
        return {}

    def checkpoint_extra(self, metrics: dict) -> dict:
        return {}

    def param_groups(self, model: nn.Module, weight_decay: float) -> list[dict]:
        return decay_groups(model.parameters(), weight_decay)


def decay_groups(params, weight_decay: float, **extra) -> list[dict]:
    """The trainable ``params`` as two AdamW groups: matrices with weight decay, biases and norms without
    (``extra`` keys, e.g. ``lr_scale``, go into both)."""
    decay, no_decay = [], []
    for p in params:
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay, **extra},
        {"params": no_decay, "weight_decay": 0.0, **extra},
    ]


def to_device(batch: Any, device: torch.device) -> Any:
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)) and not (isinstance(batch, tuple) and hasattr(batch, "_fields")):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _scalar(v) -> float:
    return float(v.detach().float().item()) if torch.is_tensor(v) else float(v)


def _better(score: float, best: float | None, mode: str) -> bool:
    if score is None or (isinstance(score, float) and math.isnan(score)):
        return False
    if best is None:
        return True
    return score > best if mode == "max" else score < best


def _resume_path(resume: str) -> Path:
    p = Path(resume)
    if p.is_dir():
        p = p / "last.pth"
    if not p.is_file():
        raise UserError(f"{p}: checkpoint to resume from not found")
    return p


def _loader(task, dataset, sampler, cfg: FitConfig, device: torch.device, epoch: int) -> DataLoader:
    g = torch.Generator()
    g.manual_seed(cfg.seed * 1000003 + epoch)  # worker seeds independent of the global RNG
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=task.collate,
        num_workers=cfg.num_workers,
        pin_memory=device.type == "cuda",
        generator=g,
        prefetch_factor=4 if cfg.num_workers > 0 else None,
    )


def evaluate(task, model: nn.Module, dataset, cfg: FitConfig, device: torch.device) -> dict:
    """Predict on this rank's shard, gather every rank's outputs, `task.validate` them on rank 0."""
    model = _unwrap(model)
    sampler = ShardBatchSampler(
        len(dataset), cfg.val_batch_size or cfg.batch_size, task.lengths(dataset), dist.rank(), dist.world_size()
    )
    outputs: list = []
    was_training = model.training
    model.eval()
    amp = cfg.amp and device.type == "cuda"
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        for batch in _loader(task, dataset, sampler, cfg, device, 0):
            outputs.extend(task.predict(model, to_device(batch, device)))
    model.train(was_training)
    gathered = dist.all_gather_objects(outputs)
    metrics = task.validate([o for part in gathered for o in part]) if dist.is_main() else None
    return dist.broadcast_object(metrics)


def fit(task, cfg: FitConfig) -> FitResult:
    """Train `task` as `cfg` says; see the module docstring for the task interface."""
    device = dist.pick_device(cfg.device)
    distributed = dist.setup(device)
    try:
        return _fit(task, cfg, device, distributed)
    finally:
        if distributed:
            dist.cleanup()


def build_optimizer(task, model: nn.Module, cfg: FitConfig) -> torch.optim.AdamW:
    """AdamW over the task's parameter groups; a group's ``lr_scale`` sets its lr to that times ``cfg.lr``
    (the scheduler then scales every group alike)."""
    groups = task.param_groups(model, cfg.weight_decay)
    for g in groups:
        g["lr"] = cfg.lr * g.pop("lr_scale", 1.0)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def _fit(task, cfg: FitConfig, device: torch.device, distributed: bool) -> FitResult:
    rank, world = dist.rank(), dist.world_size()
    main = rank == 0
    out = Path(cfg.output_dir)
    best_metric = cfg.best_metric or getattr(task, "best_metric", "train_loss")
    best_mode = cfg.best_mode or getattr(task, "best_mode", "max")
    resume_from = _resume_path(cfg.resume) if cfg.resume else None  # a wrong path fails before any work
    ckpt_io.seed_everything(cfg.seed)

    train_ds = task.train_dataset()
    val_ds = task.val_dataset()
    if val_ds is None or len(val_ds) == 0:
        val_ds = None
        if not best_metric.startswith("train_"):
            best_metric, best_mode = "train_loss", "min"  # nothing to validate on: keep the lowest loss
    if len(train_ds) == 0:
        raise UserError("no training items")
    model = task.build_model().to(device)
    optimizer = build_optimizer(task, model, cfg)
    sampler = GlobalBatchSampler(
        len(train_ds), cfg.batch_size, task.lengths(train_ds), shuffle=True, seed=cfg.seed, rank=rank, world_size=world
    )
    steps_per_epoch = len(sampler)
    scheduler = build_scheduler(
        optimizer, int(round(cfg.warmup_epochs * steps_per_epoch)), cfg.epochs * steps_per_epoch, cfg.min_lr_ratio
    )

    start_epoch, best = 1, {"metric": best_metric, "mode": best_mode, "score": None, "epoch": None}
    resumed_record = None
    if resume_from is not None:
        state = ckpt_io.load(resume_from, map_location=device)
        model.load_state_dict(state["model"])
        saved_groups = len(state["optimizer"]["param_groups"])
        if saved_groups != len(optimizer.param_groups):
            raise UserError(
                f"{resume_from}: optimizer state has {saved_groups} parameter groups, this run has "
                f"{len(optimizer.param_groups)} (written by another version or with other settings); "
                f"start a new run from its weights instead of resuming"
            )
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch = int(state["epoch"]) + 1
        cfg = dataclasses.replace(cfg, seed=int(state.get("config", {}).get("seed", cfg.seed)))
        sampler.seed = cfg.seed  # a resumed run keeps its own data order
        best = dict(state.get("best") or best)
        if best.get("metric") != best_metric:  # a different selection metric restarts the race
            best = {"metric": best_metric, "mode": best_mode, "score": None, "epoch": None}
        ckpt_io.set_rng_state(state["rng"])
        resumed_record = state.get("record")
        if resume_from.resolve() == (out / "last.pth").resolve():
            best = _repair_best(out, state, best, write=main)

    ddp_model = model
    if distributed:
        ddp_model = nn.parallel.DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=getattr(task, "find_unused_parameters", False),
        )

    writer = None
    if main:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(out)  # a killed run's half-written checkpoint or metrics temps (.tmp-*)
        _trim_metrics(out / "metrics.jsonl", start_epoch - 1, resumed_record)
        with open(out / "config.json", "w") as f:
            json.dump(
                {"fit": dataclasses.asdict(cfg), "world_size": world, "task": task.checkpoint_extra({})},
                f,
                indent=1,
                default=str,
            )
        if cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out / "tensorboard"))

    amp = cfg.amp and device.type == "cuda"
    result = FitResult(model=model, best_score=best["score"], best_epoch=best["epoch"])
    global_step = scheduler.last_epoch
    for epoch in range(start_epoch, cfg.epochs + 1):
        sampler.set_epoch(epoch)
        ddp_model.train()
        sums: dict[str, float] = {}
        units, n_steps, t0 = 0, 0, time.perf_counter()
        bar = tqdm(
            total=steps_per_epoch,
            desc=f"epoch {epoch}/{cfg.epochs}",
            unit="step",
            disable=not (main and cfg.progress),
            dynamic_ncols=True,
            leave=False,
        )
        for batch in _loader(task, train_ds, sampler, cfg, device, epoch):
            batch = to_device(batch, device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss, logs = task.step(ddp_model, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = (
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                if cfg.grad_clip > 0
                else torch.tensor(float("nan"))
            )
            optimizer.step()
            scheduler.step()
            global_step += 1
            n_steps += 1
            units += task.count(batch)
            logs = {"loss": _scalar(loss), **{k: _scalar(v) for k, v in logs.items()}}
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            if main:
                rate = units * world / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix(loss=f"{logs['loss']:.4f}", **{f"{task.unit}/s": f"{rate:,.0f}"})
                bar.update(1)
                if writer is not None and global_step % cfg.log_every == 0:
                    for k, v in logs.items():
                        writer.add_scalar(f"train/{k}", v, global_step)
                    writer.add_scalar("train/lr", scheduler.get_last_lr()[0], global_step)
                    writer.add_scalar("train/grad_norm", _scalar(grad_norm), global_step)
        bar.close()
        keys = sorted(sums)
        totals = dist.all_reduce_sum([sums[k] for k in keys] + [n_steps, units], device)
        train_time = time.perf_counter() - t0
        record: dict[str, Any] = {"epoch": epoch, "step": global_step, "lr": scheduler.get_last_lr()[0]}
        record.update({f"train_{k}": totals[i] / max(totals[-2], 1) for i, k in enumerate(keys)})
        record[f"train_{task.unit}_per_s"] = totals[-1] / max(train_time, 1e-9)

        metrics = evaluate(task, ddp_model, val_ds, cfg, device) if val_ds is not None else {}
        record.update({f"val_{k}": v for k, v in metrics.items()})
        record["time_s"] = time.perf_counter() - t0
        score = record.get(best_metric, record.get(f"val_{best_metric}", metrics.get(best_metric)))
        improved = _better(score, best["score"], best_mode)
        if improved:
            best.update(score=float(score), epoch=epoch)
        record["best_" + best_metric] = best["score"]
        result.history.append(record)
        result.last_metrics = metrics

        if main:
            state = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "epoch": epoch,
                "best": dict(best),
                "rng": ckpt_io.rng_state(),
                "config": dataclasses.asdict(cfg),
                "metrics": dict(metrics),
                "task": task.checkpoint_extra(metrics),
                "world_size": world,
                "record": json.loads(json.dumps(record, default=_json_default)),  # restores metrics.jsonl
            }
            # last.pth is the commit point, written last: a kill before it resumes from the previous epoch,
            # whose resume drops this epoch's metrics line and redoes it; see _repair_best for a kill after it
            with open(out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(record, default=_json_default) + "\n")
            if improved:
                ckpt_io.save_atomic(state, out / "best.pth")
            if cfg.save_every and epoch % cfg.save_every == 0:
                ckpt_io.save_atomic(state, out / f"checkpoint_epoch{epoch}.pth")
            ckpt_io.save_atomic(state, out / "last.pth")
            if writer is not None:
                for k, v in record.items():
                    if k not in ("epoch", "step") and isinstance(v, (int, float)) and v is not None:
                        writer.add_scalar(f"epoch/{k}", v, epoch)
                writer.flush()
            shown = {k: v for k, v in record.items() if isinstance(v, float) and not math.isnan(v)}
            tqdm.write(f"epoch {epoch}: " + " ".join(f"{k}={v:.4g}" for k, v in shown.items()))
        dist.barrier()
        if cfg.stop_after_epoch is not None and epoch >= cfg.stop_after_epoch:
            break

    if writer is not None:
        writer.close()
    result.best_score, result.best_epoch = best["score"], best["epoch"]
    return result


def _trim_metrics(path: Path, last_epoch: int, record: dict | None = None) -> None:
    """Drop records of epochs after the one resumed from (a resume from an older checkpoint redoes them) and
    lines a kill cut short; put back the resumed epoch's record (from its checkpoint) when it is missing."""
    lines = path.read_text().splitlines() if path.is_file() else []
    keep, epochs = [], set()
    for line in lines:
        try:
            rec = json.loads(line)
            epoch = int(rec["epoch"])
        except (ValueError, TypeError, KeyError):
            continue  # a line cut short by a kill mid-write (only ever the last one)
        if epoch <= last_epoch:
            keep.append(line)
            epochs.add(epoch)
    if record is not None and int(record.get("epoch", -1)) == last_epoch and last_epoch not in epochs:
        keep.append(json.dumps(record))
    if not path.is_file() and not keep:
        return
    with atomic_path(path) as tmp:
        tmp.write_text("".join(line + "\n" for line in keep))


def _repair_best(out: Path, state: dict, best: dict, write: bool) -> dict:
    """Make best.pth and the resumed run agree after a kill between the two checkpoint writes.

    Killed after last.pth but before best.pth (best.pth older than the run believes): best.pth is rewritten
    from last.pth. Killed after best.pth but before last.pth (best.pth from the epoch being redone): the race
    continues from best.pth's record, so the run's best is the file that is there."""
    path = out / "best.pth"
    if best.get("epoch") is None:
        return best
    held = ckpt_io.load(path) if path.is_file() else None
    held_best = (held or {}).get("best") or {}
    if held is not None and held.get("epoch") == best["epoch"]:
        return best
    if best["epoch"] == state.get("epoch"):
        if write:
            ckpt_io.save_atomic({k: v for k, v in state.items() if k != "_path"}, path)
        return best
    if (
        held is not None
        and int(held.get("epoch", 0)) > int(state["epoch"])
        and held_best.get("metric") == best["metric"]
    ):
        return dict(held_best)
    return best


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    return str(o)
