"""Training throughput of the VOCA-Lens localizer at the seed's defaults, and what feeds it.

    PYTHONPATH=src python benchmarks/bench_train.py            # batch 8 x 512 frames, d_model 512, 4 layers
    PYTHONPATH=src python benchmarks/bench_train.py --quick    # smaller, for a smoke run

Measures, in one run (seeded, toy features with the seed's dims: visual 512, audio 1024 at 50 Hz):
- model step alone (forward + backward + AdamW on a ready batch): frames/s and model FLOPs per frame
  (torch.utils.flop_counter over forward + backward), hence achieved FLOP/s;
- the hardware's ceiling in the same run: a large square matmul's FLOP/s (fp32 on CPU; fp32 and bf16
  on CUDA), so the model step is reported as a fraction of what the hardware does at best;
- where the step's time goes: torch.profiler self time by operator, largest first;
- feature loader alone (FeatureDataset + collate through a DataLoader, 0 and N workers): frames/s;
- padding wasted by random batches vs length-bucketed batches on a LAV-DF-like length mix.
On CUDA (when present) the model step also runs under bf16 autocast. Writes benchmarks/results/train.md.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

from _common import publish
from vocalens.datagen.toy import write_toy_store
from vocalens.localizer.config import LossConfig
from vocalens.localizer.config import ModelConfig as LocalizerConfig
from vocalens.localizer.data import FeatureDataset, collate
from vocalens.localizer.losses import localizer_loss
from vocalens.localizer.model import Localizer
from vocalens.train.sampler import GlobalBatchSampler


def make_batch(b, t, dv, da, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "visual": torch.randn(b, t, dv, generator=g).to(device),
        "audio": torch.randn(b, t, da, generator=g).to(device),
        "labels": (torch.rand(b, t, generator=g) > 0.8).float().to(device),
        "mask": torch.ones(b, t, dtype=torch.bool, device=device),
        "window_label": torch.ones(b, device=device),
    }


def train_step(model, opt, batch, amp_dtype=None):
    dev = batch["visual"].device.type
    with torch.autocast(dev, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        f, v, s = model(batch["visual"], batch["audio"], batch["mask"])
        loss, _ = localizer_loss(
            f, v, s, batch["labels"], batch["window_label"], batch["mask"], LossConfig(pos_weight=4.0)
        )
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss


def flops_per_step(model, batch) -> int:
    with FlopCounterMode(display=False) as fc:
        f, v, s = model(batch["visual"], batch["audio"], batch["mask"])
        loss, _ = localizer_loss(
            f, v, s, batch["labels"], batch["window_label"], batch["mask"], LossConfig(pos_weight=1.0)
        )
        loss.backward()
    model.zero_grad(set_to_none=True)
    return fc.get_total_flops()


def time_model(model, batch, steps, amp_dtype=None) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    train_step(model, opt, batch, amp_dtype)  # warm-up
    sync = torch.cuda.synchronize if batch["visual"].is_cuda else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        train_step(model, opt, batch, amp_dtype)
    sync()
    return (time.perf_counter() - t0) / steps


def time_loader(ds, batch_size, workers, max_batches) -> tuple[float, int]:
    sampler = GlobalBatchSampler(len(ds), batch_size, ds.lengths, seed=0)
    dl = DataLoader(
        ds, batch_sampler=sampler, collate_fn=collate, num_workers=workers, prefetch_factor=4 if workers else None
    )
    frames, n = 0, 0
    it = iter(dl)
    next(it)  # worker start-up is not throughput
    t0 = time.perf_counter()
    for batch in it:
        frames += int(batch["mask"].sum())
        n += 1
        if n >= max_batches:
            break
    return frames / max(time.perf_counter() - t0, 1e-9), n


def matmul_ceiling(device: str, dtype=torch.float32, n: int = 2048, reps: int = 5) -> float:
    """FLOP/s of an n x n x n matmul: the best this device does on dense work at this dtype."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device, dtype)
    b = torch.randn(n, n, generator=g).to(device, dtype)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    a @ b
    sync()
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync()
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def op_breakdown(model, batch, amp_dtype=None, top: int = 8) -> list[tuple[str, float]]:
    """[(operator, share of the step's self time)] of one training step, largest first."""
    from torch.profiler import ProfilerActivity, profile

    cuda = batch["visual"].is_cuda
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    train_step(model, opt, batch, amp_dtype)  # warm-up outside the profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=acts) as prof:
        train_step(model, opt, batch, amp_dtype)
        if cuda:
            torch.cuda.synchronize()
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    events = [e for e in prof.key_averages() if getattr(e, key, 0) > 0]
    total = sum(getattr(e, key) for e in events) or 1.0
    events.sort(key=lambda e: -getattr(e, key))
    return [(e.key, getattr(e, key) / total) for e in events[:top]]


def padding_waste(lengths, batch_size, bucketed: bool) -> float:
    s = GlobalBatchSampler(len(lengths), batch_size, lengths if bucketed else None, seed=0)
    padded = real = 0
    for b in s:
        lb = lengths[b]
        padded += len(b) * lb.max()
        real += lb.sum()
    return 1 - real / padded


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="d_model 128, 2 layers, 256 frames")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "train.md"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    b, t, d, layers, heads = (8, 256, 128, 2, 4) if args.quick else (8, 512, 512, 4, 8)
    dv, da = 512, 1024
    rows = []

    cfg = LocalizerConfig(dv, da, d_model=d, num_layers=layers, nhead=heads, conv_kernel=1, energy=False)  # the seed's
    model = Localizer(cfg).train()
    batch = make_batch(b, t, dv, da, "cpu")
    flops = flops_per_step(model, batch)
    per_frame = flops / (b * t)
    sec = time_model(model, batch, args.steps)
    cpu_fps = b * t / sec
    ceiling = matmul_ceiling("cpu")
    rows.append(
        (
            "model step alone, CPU fp32",
            f"{cpu_fps:,.0f}",
            f"{sec * 1000:,.0f} ms/step",
            f"{flops / sec / 1e9:,.1f} GFLOP/s = {flops / sec / ceiling:.0%} of the CPU's matmul "
            f"ceiling ({ceiling / 1e9:,.1f} GFLOP/s, 2048^3 fp32, same threads)",
        )
    )
    breakdowns = [("CPU fp32", op_breakdown(model, batch))]
    torch.manual_seed(0)
    slow = Localizer(replace(cfg, attn_dropout=0.1)).train()
    sec_slow = time_model(slow, batch, args.steps)
    rows.append(
        (
            "model step alone, CPU fp32, attention dropout 0.1 (before)",
            f"{b * t / sec_slow:,.0f}",
            f"{sec_slow * 1000:,.0f} ms/step",
            f"default (attention dropout 0) is {sec_slow / sec:.2f}x faster",
        )
    )
    del slow

    if torch.cuda.is_available():
        gm = Localizer(cfg).cuda().train()
        gb = make_batch(b, t, dv, da, "cuda")
        for name, dt in (("fp32", None), ("bf16 autocast", torch.bfloat16)):
            s = time_model(gm, gb, max(args.steps, 20), dt)
            peak = matmul_ceiling("cuda", dt or torch.float32, n=8192, reps=20)
            rows.append(
                (
                    f"model step alone, {torch.cuda.get_device_name()} {name}",
                    f"{b * t / s:,.0f}",
                    f"{s * 1000:,.1f} ms/step",
                    f"{flops / s / 1e12:,.1f} TFLOP/s = {flops / s / peak:.0%} of "
                    f"the GPU's matmul ceiling ({peak / 1e12:,.1f} TFLOP/s, 8192^3 {name.split()[0]})",
                )
            )
            breakdowns.append((f"CUDA {name}", op_breakdown(gm, gb, dt)))

    with tempfile.TemporaryDirectory() as tmp:
        n_videos = 40 if args.quick else 48
        write_toy_store(tmp, {"train": n_videos}, frames=(t, t), visual_dim=dv, audio_dim=da, audio_rate=50.0)
        ds = FeatureDataset(tmp, "train", max_frames=t)
        for w in sorted({0, args.workers}):
            fps, n = time_loader(ds, b, w, max_batches=10_000)
            rows.append(
                (
                    f"feature loader alone, {w} workers",
                    f"{fps:,.0f}",
                    f"{n} batches after the first",
                    f"{fps / cpu_fps:,.1f}x the CPU model step",
                )
            )

    lengths = np.random.default_rng(0).normal(215, 60, size=4000).clip(50, 512).astype(int)  # ~8.6 s LAV-DF clips
    waste_rand = padding_waste(lengths, b, False)
    waste_buck = padding_waste(lengths, b, True)

    lines = [
        "# Localizer training throughput",
        "",
        f"`PYTHONPATH=src python benchmarks/bench_train.py{' --quick' if args.quick else ''}` — "
        f"batch {b} x {t} frames, "
        f"d_model {d}, {layers} layers, {heads} heads, visual {dv}-d, audio {da}-d; torch {torch.__version__}, "
        f"{args.threads} CPU threads ({platform.processor() or platform.machine()}).",
        "",
        f"Model FLOPs (forward + backward, FlopCounterMode): {flops / 1e9:,.1f} GFLOP per step, "
        f"{per_frame / 1e6:,.2f} MFLOP per frame; parameters {model.num_parameters() / 1e6:,.2f} M.",
        "",
        "| what | frames/s | time | note |",
        "|---|---:|---:|---|",
        *[f"| {a} | {b_} | {c} | {d_} |" for a, b_, c, d_ in rows],
        "",
        f"Padding on a LAV-DF-like length mix (normal 215 +- 60 frames, batch {b}): random batches waste "
        f"{100 * waste_rand:.1f}% of the frames computed, length-bucketed batches {100 * waste_buck:.1f}% "
        f"({waste_rand / max(waste_buck, 1e-9):.0f}x less).",
    ]
    for name, ops in breakdowns:
        lines += [
            "",
            f"Where a {name} step's time goes (torch.profiler self time, top operators):",
            "",
            "| operator | share |",
            "|---|---:|",
            *[f"| `{k}` | {v:.1%} |" for k, v in ops],
        ]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
