"""AVFF throughput in clips/s: inference, stage-2 training step and stage-1 (pretrain) step.

    PYTHONPATH=src python benchmarks/bench_avff.py [--preset small] [--device cpu] [--threads 2] [--steps 5]

Random inputs of the preset's clip shape (seeded), warm-up steps excluded; the ratio column is
against inference of the same preset, measured in the same run. Writes benchmarks/results/avff.md
(or avff_<device>.md for a non-CPU device).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from _common import publish
from vocalens.avff.config import get_preset
from vocalens.avff.losses import complementary_masks
from vocalens.avff.model import build_model, count_parameters


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(fn, steps: int, warmup: int, device) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        fn()
    _sync(device)
    return (time.perf_counter() - t) / steps


def bench(preset: str, device: torch.device, batch: int, steps: int, warmup: int, amp: bool, **over) -> list[dict]:
    torch.manual_seed(0)
    cfg = get_preset(preset, **over)
    model = build_model(cfg).to(device)
    g = torch.Generator().manual_seed(0)
    frames = torch.randn(batch, cfg.num_frames, 3, cfg.image_size, cfg.image_size, generator=g).to(device)
    wave = (0.1 * torch.randn(batch, cfg.clip_samples, generator=g)).to(device)
    labels = torch.randint(0, 2, (batch,), generator=g).float().to(device)
    ac = torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp and device.type == "cuda")
    opt = torch.optim.AdamW([p for p in model.parameters()], lr=1e-4)

    @torch.no_grad()
    def infer():
        model.eval()
        with ac:
            model(frames, wave)

    def train_step():
        model.train()
        model.set_stage("classify")
        with ac:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(frames, wave).float(), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def pretrain_step():
        model.train()
        model.set_stage("pretrain")
        v, _ = complementary_masks(batch, cfg.num_slices, device=device)
        with ac:
            loss = model(frames, wave, v)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    name = preset + "".join(f" {k}={v}" for k, v in over.items())
    rows = []
    for what, fn in (
        ("inference", infer),
        ("train step (stage 2)", train_step),
        ("pretrain step (stage 1)", pretrain_step),
    ):
        dt = measure(fn, steps, warmup, device)
        rows.append(
            {
                "config": name,
                "what": what,
                "params_M": count_parameters(model) / 1e6,
                "clip_s": cfg.clip_seconds,
                "sec_per_batch": dt,
                "clips_per_s": batch / dt,
            }
        )
    base = rows[0]["clips_per_s"]
    for r in rows:
        r["ratio"] = r["clips_per_s"] / base
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch_size", type=int, default=8)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--wav2vec2", action="store_true", help="also the preset with the Wav2Vec2 audio stream")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = bench(args.preset, device, args.batch_size, args.steps, args.warmup, amp=True)
    if args.wav2vec2 and get_preset(args.preset).audio_encoder != "wav2vec2":
        rows += bench(args.preset, device, args.batch_size, args.steps, args.warmup, amp=True, audio_encoder="wav2vec2")
    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    load = (
        ", load average %.1f (other processes share the CPU: compare rows of one run only)" % os.getloadavg()[0]
        if hasattr(os, "getloadavg")
        else ""
    )
    lines = [
        f"AVFF throughput, {dev}, batch {args.batch_size}, {args.steps} timed steps after {args.warmup} warm-up"
        f"{' (bf16 autocast)' if device.type == 'cuda' else ''}{load}.",
        f"Command: `PYTHONPATH=src python benchmarks/bench_avff.py --preset {args.preset} --device {args.device}"
        f"{' --wav2vec2' if args.wav2vec2 else ''}`",
        "",
        "| config | step | params (M) | clip (s) | s/batch | clips/s | vs inference |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['config']} | {r['what']} | {r['params_M']:.2f} | {r['clip_s']:.2f} | {r['sec_per_batch']:.3f} "
            f"| {r['clips_per_s']:.1f} | {r['ratio']:.2f}x |"
        )
    publish(
        lines,
        Path(__file__).parent
        / "results"
        / ("avff.md" if device.type == "cpu" else f"avff_{device.type}_{args.preset}.md"),
    )


if __name__ == "__main__":
    main()
