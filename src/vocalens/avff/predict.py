"""AVFF inference: load a checkpoint, score every aligned clip of a video, pool to a video score,
and the video-level metrics (scikit-learn) with a breakdown by manipulation type."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vocalens.avff.config import AVFFConfig
from vocalens.avff.data import Prepared
from vocalens.avff.model import AVFFModel, build_model
from vocalens.avff.preprocess import normalize_faces, region_crops, stream_clips
from vocalens.errors import UserError
from vocalens.eval.breakdown import manipulation_subsets
from vocalens.eval.metrics import binary_metrics
from vocalens.train import checkpoint as ckpt_io


def read_checkpoint(path: str | Path) -> dict:
    """An AVFF checkpoint (vocalens.train.checkpoint.load, the one reader) or a UserError naming the file."""
    ckpt = ckpt_io.load(path)
    if "avff_config" not in (ckpt.get("task") or {}):
        raise UserError(f"{ckpt['_path']}: not an AVFF checkpoint (written by `vocalens avff pretrain/train`)")
    return ckpt


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[AVFFModel, AVFFConfig, dict]:
    """(model in eval mode, its config, the checkpoint's task info: stage, threshold, ...)."""
    ckpt = read_checkpoint(path)
    task = ckpt["task"]
    cfg = AVFFConfig.from_dict(task["avff_config"])
    model = build_model(cfg, load_weights=False, backbones=task.get("backbones"))
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), cfg, task


def pool_scores(probs: np.ndarray, how: str = "max") -> float:
    """Video score from clip scores: 'max' (a fake anywhere), 'mean', or 'top3' (mean of the 3 highest)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.size == 0:
        return float("nan")
    if how == "max":
        return float(probs.max())
    if how == "mean":
        return float(probs.mean())
    if how == "top3":
        return float(np.sort(probs)[-3:].mean())
    raise UserError(f"unknown pooling {how!r} (max, mean, top3)")


@torch.no_grad()
def score_clips(
    model: AVFFModel,
    frames: np.ndarray,
    waves: np.ndarray,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    amp: bool = False,
) -> np.ndarray:
    """Fake probability of each clip: ``frames [C, F, S, S, 3]`` uint8, ``waves [C, N]`` -> ``[C]``."""
    cfg = model.cfg
    out = []
    for i in range(0, len(frames), batch_size):
        x = normalize_faces(frames[i : i + batch_size], cfg.image_size).to(device)
        w = torch.from_numpy(np.ascontiguousarray(waves[i : i + batch_size])).to(device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp and str(device).startswith("cuda")):
            logits = model(x, w)
        out.append(torch.sigmoid(logits.float()).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def score_stream(
    model: AVFFModel,
    chunks,
    audio: np.ndarray,
    batch_size: int = 8,
    device="cpu",
    hop: int | None = None,
    pool: str = "max",
    amp: bool = False,
) -> dict:
    """Per-clip scores over time (seconds) and the pooled video score, from a video's face crops in
    consecutive blocks (``chunks``: streamed, vocalens.avff.preprocess.stream_clips) and its audio;
    clips are scored ``batch_size`` at a time in order, so the numbers do not depend on the blocks."""
    cfg = model.cfg
    starts, probs, frames, waves = [], [], [], []
    seen = [0]

    def counted(it):
        for c in it:
            seen[0] += len(c)
            yield c

    def flush():
        if frames:
            probs.append(score_clips(model, np.stack(frames), np.stack(waves), batch_size, device, amp))
            frames.clear()
            waves.clear()

    for s, f, w in stream_clips(
        counted(chunks), audio, cfg.num_frames, cfg.frame_stride, hop, cfg.fps, cfg.sample_rate
    ):
        starts.append(s)
        frames.append(f)
        waves.append(w)
        if len(frames) == batch_size:
            flush()
    flush()
    probs = np.concatenate(probs) if probs else np.zeros(0, np.float32)
    num_frames = seen[0]
    return {
        "clips": [
            {
                "start": s / cfg.fps,
                "end": min(s + cfg.span_frames, max(num_frames, cfg.span_frames)) / cfg.fps,
                "score": float(q),
            }
            for s, q in zip(starts, probs)
        ],
        "video_score": pool_scores(probs, pool),
        "duration": num_frames / cfg.fps,
        "num_frames": num_frames,
    }


def score_video(
    model: AVFFModel,
    p: Prepared,
    batch_size: int = 8,
    device="cpu",
    hop: int | None = None,
    pool: str = "max",
    amp: bool = False,
) -> dict:
    """:func:`score_stream` of a prepared (decoded or cached) video."""
    from vocalens.media.crops import CHUNK

    chunks = (p.faces[i : i + CHUNK] for i in range(0, p.num_frames, CHUNK))
    return score_stream(model, chunks, p.audio, batch_size, device, hop, pool, amp)


def metrics_by_manipulation(labels, scores, manipulations, threshold: float = 0.5) -> dict:
    """Overall metrics, then per manipulation type: that type's fakes against all real videos
    (:func:`vocalens.eval.breakdown.manipulation_subsets`, the rule the localizer's breakdown uses)."""
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=np.float64)
    out = {"all": binary_metrics(y, s, threshold)}
    for kind, idx in manipulation_subsets(list(manipulations), y.tolist(), include_real=False).items():
        out[kind] = binary_metrics(y[idx], s[idx], threshold)
    return out


@torch.no_grad()
def frame_embeddings(model: AVFFModel, faces: np.ndarray, batch_size: int = 32, device="cpu") -> np.ndarray:
    """Stage-1 visual embeddings per frame: ``faces [T, H, W, 3]`` uint8 -> ``[T, dim]`` float32."""
    out = []
    for i in range(0, len(faces), batch_size):
        chunk = np.asarray(faces[i : i + batch_size])
        if model.cfg.crop != "face":  # face crops from the extract pipeline -> the region the model saw
            chunk = region_crops(chunk, model.cfg.crop, model.cfg.image_size)
        x = normalize_faces(chunk, model.cfg.image_size).to(device)
        out.append(model.visual(x[None])[0].float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, model.cfg.dim), np.float32)


@torch.no_grad()
def audio_embeddings(model: AVFFModel, wave: np.ndarray, batch_size: int = 16, device="cpu") -> np.ndarray:
    """Stage-1 audio embeddings at the video rate (``fps``, 25 Hz): the wave is cut into clip-length
    chunks (what the audio encoder was trained on), each chunk's tokens pooled to its frames."""
    cfg = model.cfg
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    n, span = cfg.clip_samples, cfg.span_frames
    total = int(np.ceil(len(wave) / cfg.sample_rate * cfg.fps - 1e-6))
    chunks = max(1, int(np.ceil(len(wave) / n)))
    padded = np.zeros(chunks * n, np.float32)
    padded[: len(wave)] = wave
    padded = torch.from_numpy(padded).view(chunks, n)
    from vocalens.avff.model import pool_slices

    out = []
    for i in range(0, chunks, batch_size):
        tok = model.audio(padded[i : i + batch_size].to(device))
        out.append(pool_slices(tok, span).float().cpu().reshape(-1, cfg.dim))
    return torch.cat(out)[: max(total, 0)].numpy()
