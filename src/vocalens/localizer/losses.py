"""Localizer losses: L = L_frame + a*L_video + b*L_smooth + g*L_similarity + d*L_boundary, padding-aware.

Every frame term is a mean over valid frames only (mask True), so padding never changes a loss.
- L_frame: BCE with ``pos_weight`` on fake frames, or focal loss (``use_focal``; alpha weighs fake
  frames, 1 - alpha real ones; pos_weight is not used with focal loss).
- L_video: BCE of the video logit against the video (or window) label.
- L_smooth: mean over consecutive valid frame pairs of (p[t+1] - p[t])^2, p = sigmoid(logit).
- L_similarity: mean over valid frames of (similarity - (1 - label))^2 (real -> 1, fake -> 0).
- L_boundary (with the boundary head): focal + DIoU + quality of vocalens.localizer.boundary.boundary_loss,
  targets from the fake runs of the (window's) frame labels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vocalens.localizer.config import LossConfig


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(values.dtype)
    return (values * m).sum() / m.sum().clamp_min(1)


def frame_bce(logits, labels, mask, pos_weight: float = 1.0) -> torch.Tensor:
    pw = torch.tensor(float(pos_weight), device=logits.device, dtype=torch.float32)
    per = F.binary_cross_entropy_with_logits(logits.float(), labels.float(), pos_weight=pw, reduction="none")
    return _masked_mean(per, mask)


def frame_focal(logits, labels, mask, alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    logits, y = logits.float(), labels.float()
    ce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * y + (1 - p) * (1 - y)
    alpha_t = alpha * y + (1 - alpha) * (1 - y)
    return _masked_mean(alpha_t * (1 - p_t) ** gamma * ce, mask)


def video_bce(video_logit, video_labels) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(video_logit.float(), video_labels.float())


def smoothness(logits, mask) -> torch.Tensor:
    p = torch.sigmoid(logits.float())
    pair = mask[:, 1:] & mask[:, :-1]
    return _masked_mean((p[:, 1:] - p[:, :-1]) ** 2, pair)


def similarity_mse(similarity, labels, mask) -> torch.Tensor:
    return _masked_mean((similarity.float() - (1.0 - labels.float())) ** 2, mask)


def localizer_loss(
    frame_logits, video_logit, similarity, labels, video_labels, mask, cfg: LossConfig, boundary=None, radius=1.5
):
    """-> (total, {frame, video, smooth, similarity, boundary_*}) with the components detached. ``cfg.pos_weight``
    must be resolved (the task turns the flag's -1 into the training frames' real/fake ratio). ``boundary``: the
    boundary head's output (``radius``: its centre-sampling radius), None without the head."""
    if not cfg.use_focal and cfg.pos_weight < 0:
        raise ValueError("localizer_loss: pos_weight -1 (auto) must be resolved first (auto_pos_weight)")
    mask = mask.bool()
    if cfg.use_focal:
        l_frame = frame_focal(frame_logits, labels, mask, cfg.focal_alpha, cfg.focal_gamma)
    else:
        l_frame = frame_bce(frame_logits, labels, mask, cfg.pos_weight)
    parts = {"frame": l_frame}
    total = l_frame
    if cfg.video_loss_weight:
        parts["video"] = video_bce(video_logit, video_labels)
        total = total + cfg.video_loss_weight * parts["video"]
    if cfg.smooth_loss_weight:
        parts["smooth"] = smoothness(frame_logits, mask)
        total = total + cfg.smooth_loss_weight * parts["smooth"]
    if cfg.similarity_loss_weight:
        parts["similarity"] = similarity_mse(similarity, labels, mask)
        total = total + cfg.similarity_loss_weight * parts["similarity"]
    if boundary is not None and cfg.boundary_loss_weight:
        from vocalens.localizer.boundary import boundary_loss

        b = boundary_loss(boundary, labels, mask, radius)
        parts.update({f"boundary_{k}": v for k, v in b.items()})
        total = total + cfg.boundary_loss_weight * sum(b.values())
    return total, {k: v.detach() for k, v in parts.items()}


def auto_pos_weight(num_fake: int, num_real: int) -> float:
    """neg/pos ratio of the training frames (1.0 when there are no fake frames)."""
    return float(num_real) / float(num_fake) if num_fake > 0 else 1.0
