"""AVFF objectives: complementary masks, masked reconstruction, InfoNCE, and the classifier loss.

Stage 1 (self-supervised, real videos only) = ``rec_weight * (L_rec_visual + L_rec_audio)
+ contrastive_weight * L_InfoNCE``; stage 2 = binary cross-entropy on the real/fake logit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def complementary_masks(
    batch: int, num_slices: int, generator: torch.Generator | None = None, device=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Visible-slice masks ``(visual_visible, audio_visible)``, bool ``[batch, num_slices]``.

    Half the slices of each clip, chosen at random, are shown to the visual stream; the other half
    (exactly the slices hidden from vision) are shown to the audio stream. Every slice is visible to
    exactly one modality, so each cross-modal network must predict what its own modality cannot see.
    """
    noise = torch.rand(batch, num_slices, generator=generator)
    order = noise.argsort(dim=1)
    visual_visible = torch.zeros(batch, num_slices, dtype=torch.bool)
    visual_visible.scatter_(1, order[:, : num_slices // 2], True)
    visual_visible = visual_visible.to(device) if device is not None else visual_visible
    return visual_visible, ~visual_visible


def normalize_patches(target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-slice standardisation of reconstruction targets ``[..., P]`` (MAE's normalised-pixel loss)."""
    mean = target.mean(dim=-1, keepdim=True)
    var = target.var(dim=-1, keepdim=True, unbiased=False)
    return (target - mean) / (var + eps).sqrt()


def masked_mse(pred: torch.Tensor, target: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the masked slices only: ``pred, target [B, K, P]``, ``masked [B, K]`` bool."""
    per_slice = (pred.float() - target.float()).pow(2).mean(dim=-1)
    w = masked.to(per_slice.dtype)
    return (per_slice * w).sum() / w.sum().clamp_min(1.0)


def info_nce(
    visual: torch.Tensor, audio: torch.Tensor, temperature: float = 0.07, audio_negatives: torch.Tensor | None = None
) -> torch.Tensor:
    """Symmetric InfoNCE between pooled clip embeddings ``[B, D]``: clip i's audio is the positive of its
    visual and every other clip of the batch a negative (and the other way round).

    ``audio_negatives [B', D]`` are extra negatives for every visual (time-shifted audio of the same
    videos): other clips differ in face and voice, so without them the loss is solved by identity;
    with them only audio-visual synchrony separates the positive from the negatives."""
    v = F.normalize(visual.float(), dim=-1)
    a = F.normalize(audio.float(), dim=-1)
    logits = v @ a.t() / temperature
    target = torch.arange(v.shape[0], device=v.device)
    v2a = logits
    if audio_negatives is not None:
        n = F.normalize(audio_negatives.float(), dim=-1)
        v2a = torch.cat([logits, v @ n.t() / temperature], dim=1)
    return 0.5 * (F.cross_entropy(v2a, target) + F.cross_entropy(logits.t(), target))


def slice_info_nce(
    visual: torch.Tensor, audio: torch.Tensor, temperature: float = 0.07, audio_negatives: torch.Tensor | None = None
) -> torch.Tensor:
    """InfoNCE per time slice, averaged over slices: ``visual, audio [B, K, D]``. Slice k of clip i's
    face has one positive, slice k of its own audio; the negatives are slice k of the other clips'
    audio and of every ``audio_negatives [B', K, D]`` (the clips' audio shifted in time). All
    candidates sit at the same slice position, so position embeddings cannot tell them apart: only
    what is said at that moment can (a lip-sync loss, as in SyncNet). Symmetric for audio -> visual."""
    v = F.normalize(visual.float(), dim=-1).transpose(0, 1)  # [K, B, D]
    a = F.normalize(audio.float(), dim=-1).transpose(0, 1)
    k, b = v.shape[:2]
    logits = v @ a.transpose(1, 2) / temperature  # [K, B, B]
    v2a = logits
    if audio_negatives is not None:
        n = F.normalize(audio_negatives.float(), dim=-1).transpose(0, 1)  # [K, B', D]
        v2a = torch.cat([logits, v @ n.transpose(1, 2) / temperature], dim=2)
    target = torch.arange(b, device=v.device).repeat(k)
    return 0.5 * (
        F.cross_entropy(v2a.reshape(k * b, -1), target)
        + F.cross_entropy(logits.transpose(1, 2).reshape(k * b, -1), target)
    )


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, pos_weight: float | None = None) -> torch.Tensor:
    """Binary cross-entropy with logits; ``pos_weight`` balances fake/real when the classes are skewed."""
    pw = None if pos_weight is None else torch.tensor(float(pos_weight), device=logits.device)
    return F.binary_cross_entropy_with_logits(logits.float(), labels.float(), pos_weight=pw)
