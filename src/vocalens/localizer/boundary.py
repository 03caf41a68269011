"""The boundary head: fake segments regressed directly (ActionFormer-style, anchor-free), beside the frame head.

Thresholding frame probabilities gives ragged segments whose edges wander with the curve; published
temporal-forgery localizers (UMMAFormer, AuViRe, the AV-Deepfake1M++ winners) predict each segment's
start and end instead. This module is that head, its targets, its losses and its decoding:

- **Pyramid** (:class:`BoundaryHead`): the temporal encoder's output (with the similarity signal) at
  stride 1, then ``levels - 1`` times max-pool by 2 + a residual convolution. Level ``l`` has stride
  ``2**l``; its point ``i`` sits at frame time ``(i + 0.5) * 2**l`` (frame ``k`` spans ``[k, k+1)``).
- **Heads**, shared over levels: a fake-segment logit, the distances to the segment's start and end
  in units of the level's stride (ReLU of a per-level scaled output, so never negative), and a
  quality logit that learns the IoU of the point's own regressed segment with its target (IoU-aware:
  a well-placed point outranks a badly placed one of equal class score).
- **Targets** (:func:`assign_targets`, ActionFormer's ``label_points``): a point is positive for a true
  segment when it lies inside the segment's centre region (``radius`` strides around its middle,
  clipped to the segment) and the larger of its two distances falls in its level's regression range
  (:func:`regression_ranges`: short segments on fine levels, long ones on coarse); among several such
  segments it takes the shortest.
- **Edges** (``edges=True``, BSN/BMN's temporal evaluation module): per frame, at stride 1, a start and an
  end logit: "a fake segment starts at this frame" / "ends after this frame". A regressed edge is a
  distance predicted by one point from up to 16 frames away; the edge logits look at the frames
  themselves, so at decoding each regressed edge moves to the likeliest start/end frame within
  ``refine`` frames (:func:`refine_edges`), for the high-IoU thresholds (AP@0.95 needs 1-2-frame edges).
- **Losses** (:func:`boundary_loss`): sigmoid focal loss over all valid points + 1-D DIoU over the
  positive points + BCE of the quality logit against the detached IoU, each normalised by the number
  of positives (their mean over ranks under DDP); with edges also BMN's balanced BCE of the start/end
  logits (:func:`edge_loss`; target 1 on the edge frame, 0.5 on its neighbours).
- **Decoding** (:func:`decode_window`, :func:`rank_segments`): per level the top-k points by
  ``sqrt(p_cls * p_quality)``, their edges refined (with edges; the score optionally x the edge
  probabilities, BMN's ``p_start * p_end``), their segments in global frame time, merged over windows; the score
  optionally fused with the frame head's mean probability inside the segment; Gaussian soft-NMS
  (:func:`vocalens.eval.proposals.soft_nms`), score voting of the boundaries (each kept segment's edges
  become the score-weighted mean of the candidates overlapping it by IoU >= ``voting_iou``), and at
  least ``max_proposals`` rows (:func:`pad_proposals`) so the official LAV-DF evaluator's AR@100 runs.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vocalens.data.labels import mask_runs
from vocalens.eval.proposals import soft_nms

INF = 1e8  # the coarsest level's upper regression bound (frames)


def regression_ranges(levels: int, base: float = 4.0) -> list[tuple[float, float]]:
    """[(lo, hi)] per level, in frames: (0, 4), (4, 8), (8, 16), ... the last one open (ActionFormer's)."""
    out = []
    for lvl in range(levels):
        lo = 0.0 if lvl == 0 else base * 2 ** (lvl - 1)
        hi = INF if lvl == levels - 1 else base * 2**lvl
        out.append((lo, hi))
    return out


def make_points(length: int, levels: int, device=None) -> torch.Tensor:
    """[N, 4] (centre frame time, range lo, range hi, stride) of every pyramid point of a padded length
    (a multiple of ``2**(levels-1)``), level by level."""
    rows = []
    for lvl, (lo, hi) in enumerate(regression_ranges(levels)):
        stride = 2**lvl
        n = length // stride
        c = (torch.arange(n, dtype=torch.float32, device=device) + 0.5) * stride
        rows.append(torch.stack([c, torch.full_like(c, lo), torch.full_like(c, hi), torch.full_like(c, stride)], 1))
    return torch.cat(rows, 0)


def padded_length(length: int, levels: int) -> int:
    k = 2 ** (levels - 1)
    return max(k, int(math.ceil(length / k)) * k)


class _Scale(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return x * self.scale


class _ConvNorm(nn.Module):
    """Conv1d(k=3) on [B,T,D] + LayerNorm + activation, zero on padded positions (padding stays invisible)."""

    def __init__(self, d_in: int, d_out: int, act=True):
        super().__init__()
        self.conv = nn.Conv1d(d_in, d_out, 3, padding=1)
        self.norm = nn.LayerNorm(d_out) if act else None

    def forward(self, x, m):
        h = self.conv((x * m).transpose(1, 2)).transpose(1, 2)
        if self.norm is not None:
            h = F.gelu(self.norm(h))
        return h * m


class BoundaryHead(nn.Module):
    """[B,T,d_in] features + [B,T] mask -> per pyramid point: cls logit, start/end distances, quality logit."""

    def __init__(self, d_in: int, d_model: int, levels: int = 5, prior: float = 0.01, edges: bool = False):
        super().__init__()
        if levels < 1:
            raise ValueError(f"boundary head: levels must be >= 1, got {levels}")
        self.levels = levels
        self.stem = _ConvNorm(d_in, d_model)
        self.down = nn.ModuleList(_ConvNorm(d_model, d_model) for _ in range(levels - 1))
        self.cls_tower = _ConvNorm(d_model, d_model)
        self.reg_tower = _ConvNorm(d_model, d_model)
        self.cls_out = _ConvNorm(d_model, 1, act=False)
        self.reg_out = _ConvNorm(d_model, 2, act=False)
        self.quality_out = _ConvNorm(d_model, 1, act=False)
        self.scales = nn.ModuleList(_Scale() for _ in range(levels))
        nn.init.constant_(self.cls_out.conv.bias, -math.log((1 - prior) / prior))  # start with p = prior
        # start / end logits per frame, on the stride-1 level (the only one that sees single frames)
        self.edge_tower = _ConvNorm(d_model, d_model) if edges else None
        self.edge_out = _ConvNorm(d_model, 2, act=False) if edges else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> dict:
        """-> {cls [B,N], offsets [B,N,2] (strides, >= 0), quality [B,N], point_mask [B,N], points [N,4]}
        (+ edges [B,T',2]: start / end logits per frame of the padded length, with ``edges``)."""
        b, t, _ = x.shape
        tp = padded_length(t, self.levels)
        m = F.pad(mask.to(x.dtype), (0, tp - t)).unsqueeze(-1)
        h = self.stem(F.pad(x, (0, 0, 0, tp - t)), m)
        feats, masks = [h], [m]
        for down in self.down:
            m = F.max_pool1d(m.transpose(1, 2), 2, 2).transpose(1, 2)
            pooled = F.max_pool1d(h.transpose(1, 2), 2, 2).transpose(1, 2)
            h = pooled + down(pooled, m)
            feats.append(h)
            masks.append(m)
        cls, off, qual = [], [], []
        for lvl, (f, m) in enumerate(zip(feats, masks)):
            c = self.cls_tower(f, m)
            r = self.reg_tower(f, m)
            cls.append(self.cls_out(c, m)[..., 0])
            off.append(F.relu(self.scales[lvl](self.reg_out(r, m))))
            qual.append(self.quality_out(r, m)[..., 0])
        out = {
            "cls": torch.cat(cls, 1).float(),
            "offsets": torch.cat(off, 1).float(),
            "quality": torch.cat(qual, 1).float(),
            "point_mask": torch.cat([m[..., 0] for m in masks], 1) > 0,
            "points": make_points(tp, self.levels, x.device),
        }
        if self.edge_out is not None:
            out["edges"] = self.edge_out(self.edge_tower(feats[0], masks[0]), masks[0]).float()
        return out


# ------------------------------------------------------------------------------------------ targets


def label_segments(labels: np.ndarray) -> np.ndarray:
    """[T] 0/1 frame labels -> [K, 2] fake runs [start, end) in frames."""
    return np.stack(mask_runs(np.asarray(labels).reshape(-1) > 0.5), 1).astype(np.float32)


def assign_targets(points: torch.Tensor, segments, radius: float = 1.5) -> tuple[torch.Tensor, torch.Tensor]:
    """ActionFormer's centre sampling: points [N,4], true segments [K,2] (frames) ->
    (cls target [N] in {0,1}, regression target [N,2] = (centre - start, end - centre) / stride)."""
    n = points.shape[0]
    seg = torch.as_tensor(np.asarray(segments, dtype=np.float32), device=points.device).reshape(-1, 2)
    if len(seg) == 0:
        return torch.zeros(n, device=points.device), torch.zeros(n, 2, device=points.device)
    c, lo, hi, stride = (points[:, i : i + 1] for i in range(4))
    s, e = seg[None, :, 0], seg[None, :, 1]
    left, right = c - s, e - c  # [N, K]
    mid = (s + e) / 2
    in_centre = torch.minimum(c - torch.maximum(mid - radius * stride, s), torch.minimum(mid + radius * stride, e) - c)
    reach = torch.maximum(left, right)
    ok = (in_centre > 0) & (reach >= lo) & (reach <= hi)
    lengths = torch.where(ok, (e - s).expand(n, -1), torch.full_like(left, float("inf")))
    best_len, best = lengths.min(1)
    positive = torch.isfinite(best_len)
    idx = torch.arange(n, device=points.device)
    reg = torch.stack([left[idx, best], right[idx, best]], 1) / stride
    return positive.float(), reg * positive[:, None]


# ------------------------------------------------------------------------------------------ losses


def diou_loss_1d(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """1-D DIoU loss per row (ActionFormer's ``ctr_diou_loss_1d``): offsets [M,2] (to start, to end)
    from the same point -> 1 - IoU + (centre distance / enclosing length)^2."""
    lp, rp = pred[:, 0], pred[:, 1]
    lg, rg = target[:, 0], target[:, 1]
    inter = torch.min(lp, lg) + torch.min(rp, rg)
    union = (lp + rp) + (lg + rg) - inter
    iou = inter / union.clamp_min(eps)
    enclosing = torch.max(lp, lg) + torch.max(rp, rg)
    rho = 0.5 * (rp - lp - rg + lg)
    return 1.0 - iou + (rho / enclosing.clamp_min(eps)) ** 2


def iou_1d(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    inter = (torch.min(pred[:, 0], target[:, 0]) + torch.min(pred[:, 1], target[:, 1])).clamp_min(0)
    union = pred.sum(1) + target.sum(1) - inter
    return inter / union.clamp_min(eps)


def sigmoid_focal(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0):
    """Per-element sigmoid focal loss (Lin et al. 2017; torchvision's ``sigmoid_focal_loss``, reduction none)."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss


def edge_targets(labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B,T] frame labels -> [B,T,2] (start, end) targets: 1 on the first / last frame of each fake run,
    0.5 on the frames next to it (a one-frame miss is half wrong), 0 elsewhere and on padding."""
    y = (labels.float() * mask.float()) > 0.5
    prev = F.pad(y[:, :-1], (1, 0))
    nxt = F.pad(y[:, 1:], (0, 1))
    exact = torch.stack([y & ~prev, y & ~nxt], -1).float()  # [B,T,2]
    near = F.max_pool1d(exact.transpose(1, 2), 3, 1, 1).transpose(1, 2)  # a neighbour of an edge frame
    return torch.maximum(exact, 0.5 * near) * mask.float().unsqueeze(-1)


def edge_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """BMN's balanced binary logistic loss of the start/end logits [B,T,2]: half the mean BCE over the frames
    near an edge (target > 0), half over the others (edges are ~1% of the frames), summed over start and end.
    Each mean is a sum over the frames / their count per rank (:func:`positives_per_rank`), so DDP's averaged
    gradient is one process's on the global batch."""
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    valid = mask.bool().unsqueeze(-1).expand_as(bce)
    groups = torch.stack([valid & (targets > 0), valid & (targets <= 0)])  # [2, B, T, C]
    sums = (bce.unsqueeze(0) * groups).sum((1, 2))  # [2, C]
    counts = positives_per_rank(groups.sum((1, 2)).float())
    return 0.5 * (sums / counts).sum()


def batch_targets(out: dict, labels: torch.Tensor, mask: torch.Tensor, radius: float):
    """Targets of a batch: labels [B,T] -> (cls [B,N], reg [B,N,2])."""
    lab = (labels.float() * mask.float()).cpu().numpy()
    cls, reg = zip(*(assign_targets(out["points"], label_segments(lab[j]), radius) for j in range(len(lab))))
    return torch.stack(cls), torch.stack(reg)


def positives_per_rank(count: torch.Tensor) -> torch.Tensor:
    """The loss normaliser: positives of the batch; under DDP their mean over ranks (FCOS), so the gradient
    DDP averages over ranks equals one process's on the whole global batch. At least 1."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        count = count.detach().clone()
        dist.all_reduce(count)
        count = count / dist.get_world_size()
    return count.clamp_min(1.0)


def boundary_loss(
    out: dict, labels: torch.Tensor, mask: torch.Tensor, radius: float = 1.5, alpha: float = 0.25, gamma: float = 2.0
) -> dict:
    """{cls, reg, quality} losses of a batch (each a sum over points / number of positive points), + edges."""
    cls_t, reg_t = batch_targets(out, labels, mask, radius)
    valid = out["point_mask"]
    pos = (cls_t > 0) & valid
    norm = positives_per_rank(pos.sum().float())
    l_cls = (sigmoid_focal(out["cls"], cls_t, alpha, gamma) * valid).sum() / norm
    if pos.any():
        pred, target = out["offsets"][pos], reg_t[pos]
        l_reg = diou_loss_1d(pred, target).sum() / norm
        q_t = iou_1d(pred.detach(), target)
        l_q = F.binary_cross_entropy_with_logits(out["quality"][pos], q_t, reduction="sum") / norm
    else:
        l_reg = l_q = out["offsets"].sum() * 0.0
    parts = {"cls": l_cls, "reg": l_reg, "quality": l_q}
    if "edges" in out:
        t = labels.shape[1]
        parts["edges"] = edge_loss(out["edges"][:, :t], edge_targets(labels, mask), mask)
    return parts


# ------------------------------------------------------------------------------------------ decoding


def point_scores(out: dict, j: int) -> torch.Tensor:
    """[N] ranking score of video ``j``'s points: sqrt(p_cls * p_quality), 0 on padding."""
    s = torch.sqrt(torch.sigmoid(out["cls"][j]) * torch.sigmoid(out["quality"][j]))
    return s * out["point_mask"][j]


def decode_window(
    out: dict,
    j: int,
    length: int,
    topk: int = 50,
    min_score: float = 1e-4,
    refine: int = 0,
    edge_weight: float = 0.0,
) -> np.ndarray:
    """Candidates [K, 3] (start, end, score) in the window's frames: the top-k points of every level; with
    the head's edge logits, edges refined within ``refine`` frames and scores x edge probabilities^w
    (:func:`refine_edges`)."""
    pts, scores = out["points"], point_scores(out, j)
    segs = torch.stack(
        [pts[:, 0] - out["offsets"][j, :, 0] * pts[:, 3], pts[:, 0] + out["offsets"][j, :, 1] * pts[:, 3]], 1
    )
    segs = segs.clamp(0, float(length))
    keep = []
    for stride in torch.unique(pts[:, 3]):
        idx = torch.nonzero(pts[:, 3] == stride).squeeze(1)
        top = scores[idx].topk(min(topk, len(idx))).indices
        keep.append(idx[top])
    idx = torch.cat(keep)
    ok = (scores[idx] > min_score) & (segs[idx, 1] - segs[idx, 0] > 0.5)
    idx = idx[ok]
    cands = torch.cat([segs[idx], scores[idx, None]], 1).detach().cpu().numpy().astype(np.float64)
    if "edges" in out and (refine > 0 or edge_weight > 0):
        p = torch.sigmoid(out["edges"][j, :length]).detach().cpu().numpy().astype(np.float64)
        cands = refine_edges(cands, p[:, 0], p[:, 1], refine, edge_weight)
    return cands


def window_candidates(out: dict, j: int, length: int, cfg) -> np.ndarray:
    """:func:`decode_window` with a :class:`vocalens.localizer.config.ModelConfig`'s settings."""
    return decode_window(
        out, j, length, cfg.boundary_topk, refine=cfg.boundary_refine, edge_weight=cfg.boundary_edge_weight
    )


def refine_edges(
    cands: np.ndarray, p_start: np.ndarray, p_end: np.ndarray, radius: int, weight: float = 0.0, min_prob: float = 0.05
) -> np.ndarray:
    """Rows (start, end, score), frames -> each start moved to the frame k within ``radius`` of it with the
    highest ``p_start[k]`` (edge at time k), each end to the frame k with the highest ``p_end[k]`` (edge at
    k + 1), when that probability is at least ``min_prob`` and the segment stays >= 1 frame; ``weight`` w:
    score^(1-w) * sqrt(p_start * p_end)^w at the final edges (BMN's score). ``radius`` 0: edges kept."""
    out = np.asarray(cands, dtype=np.float64).reshape(-1, 3).copy()
    n = len(p_start)
    if not len(out) or n == 0:
        return out
    offs = np.arange(-radius, radius + 1)

    def best(frames, prob):
        idx = np.clip(frames[:, None] + offs[None, :], 0, n - 1)
        pick = idx[np.arange(len(idx)), np.argmax(prob[idx], 1)]
        return pick, prob[pick]

    s0 = np.clip(np.round(out[:, 0]).astype(int), 0, n - 1)
    e0 = np.clip(np.round(out[:, 1]).astype(int) - 1, 0, n - 1)  # the last frame of the segment
    if radius > 0:
        s1, ps = best(s0, p_start)
        e1, pe = best(e0, p_end)
        start = np.where(ps >= min_prob, s1, out[:, 0])
        end = np.where(pe >= min_prob, e1 + 1, out[:, 1])
        ok = end - start >= 1
        out[ok, 0], out[ok, 1] = start[ok], end[ok]
    if weight > 0:
        s_ = np.clip(np.round(out[:, 0]).astype(int), 0, n - 1)
        e_ = np.clip(np.round(out[:, 1]).astype(int) - 1, 0, n - 1)
        out[:, 2] = out[:, 2] ** (1 - weight) * np.sqrt(p_start[s_] * p_end[e_]) ** weight
    return out


def fuse_frame_probs(cands: np.ndarray, probs: np.ndarray, weight: float) -> np.ndarray:
    """score^(1-w) * (mean frame probability inside the segment)^w, rows (start, end, score)."""
    if weight <= 0 or not len(cands):
        return cands
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    csum = np.concatenate([[0.0], np.cumsum(p)])
    s = np.clip(np.floor(cands[:, 0]).astype(int), 0, len(p) - 1)
    e = np.clip(np.ceil(cands[:, 1]).astype(int), s + 1, len(p))
    inside = (csum[e] - csum[s]) / (e - s)
    out = cands.copy()
    out[:, 2] = cands[:, 2] ** (1 - weight) * np.clip(inside, 0, 1) ** weight
    return out


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inter = np.clip(np.minimum(a[:, None, 1], b[None, :, 1]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    union = (a[:, None, 1] - a[:, None, 0]) + (b[None, :, 1] - b[None, :, 0]) - inter
    return inter / np.maximum(union, 1e-9)


def score_voting(kept: np.ndarray, cands: np.ndarray, iou: float = 0.75) -> np.ndarray:
    """Each kept segment's edges := the mean of the candidates' with IoU >= ``iou``, weighted by score * IoU."""
    if iou >= 1 or not len(kept) or not len(cands):
        return kept
    m = _iou_matrix(kept[:, :2], cands[:, :2])
    w = np.where(m >= iou, m * cands[None, :, 2], 0.0)
    tot = w.sum(1, keepdims=True)
    voted = (w @ cands[:, :2]) / np.maximum(tot, 1e-12)
    out = kept.copy()
    out[:, :2] = np.where(tot > 0, voted, kept[:, :2])
    return out


def pad_proposals(rows: np.ndarray, length: float, n: int) -> np.ndarray:
    """At least ``n`` rows (start, end, score): rescaled copies (x0.5 .. x2 around the centre, clipped to
    the video) of the ranked rows, ranked after them with their scores x 1e-3; plain repeats last."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
    if len(rows) >= n or length <= 0:
        return rows
    if not len(rows):
        rows = np.array([[0.0, float(length), 0.0]])
    extra = []
    floor = rows[:, 2].min()
    for f in (0.5, 2.0, 0.75, 1.5, 0.25, 3.0, 0.9, 1.1):
        c, half = rows[:, :2].mean(1), (rows[:, 1] - rows[:, 0]) * f / 2
        seg = np.stack([np.clip(c - half, 0, length), np.clip(c + half, 0, length)], 1)
        extra.append(np.concatenate([seg, (rows[:, 2:] * 1e-3).clip(max=floor)], 1))
    extra = np.concatenate(extra)
    extra = extra[np.argsort(-extra[:, 2], kind="stable")]  # ranked among themselves too
    out = np.concatenate([rows, extra])
    out = out[out[:, 1] > out[:, 0]]
    _, first = np.unique(np.round(out[:, :2], 6), axis=0, return_index=True)
    out = out[np.sort(first)]
    if len(out) < n:
        out = np.concatenate([out, np.repeat(out[-1:], n - len(out), 0)])
    return out


def rank_segments(
    cands: np.ndarray,
    length: int,
    frame_probs=None,
    fusion: float = 0.2,
    sigma: float = 2.0,
    voting_iou: float = 1.0,
    max_candidates: int = 2000,
    max_proposals: int = 100,
    snap: bool = True,
) -> np.ndarray:
    """A video's candidates [K,3] (start, end, score; frames, all windows) -> ranked proposals [>= max_proposals, 3].

    ``snap``: edges rounded to whole frames (labels are per frame, so a true edge is on the frame grid;
    a regressed 12.4 is a worse guess than 12), before soft-NMS (equal segments then suppress each
    other) and again after voting."""
    cands = np.asarray(cands, dtype=np.float64).reshape(-1, 3)
    if snap:
        cands = snap_to_frames(cands)
    if frame_probs is not None and len(frame_probs):
        cands = fuse_frame_probs(cands, frame_probs, fusion)
    cands = cands[np.argsort(-cands[:, 2], kind="stable")[:max_candidates]]
    segs, scores = soft_nms(cands[:, :2], cands[:, 2], sigma, limit=max_proposals)
    kept = score_voting(np.concatenate([segs, scores[:, None]], 1), cands, voting_iou)
    if snap:
        kept = snap_to_frames(kept)
    return pad_proposals(kept, float(length), max_proposals)


def snap_to_frames(rows: np.ndarray) -> np.ndarray:
    """Rows (start, end, score) with start and end rounded to whole frames, at least one frame long."""
    out = np.asarray(rows, dtype=np.float64).reshape(-1, 3).copy()
    out[:, 0] = np.round(out[:, 0])
    out[:, 1] = np.maximum(np.round(out[:, 1]), out[:, 0] + 1)
    return out


def display_segments(proposals: np.ndarray, threshold: float) -> list[list[float]]:
    """The fake segments to show: ranked proposals with score >= threshold that overlap no better one,
    in time order, ``[[start, end, score], ...]`` (frames)."""
    kept: list[np.ndarray] = []
    for row in np.asarray(proposals, dtype=np.float64).reshape(-1, 3):
        if row[2] < threshold:
            break
        if all(row[1] <= k[0] or row[0] >= k[1] for k in kept):
            kept.append(row)
    return [[float(s), float(e), float(sc)] for s, e, sc in sorted(kept, key=lambda r: r[0])]


def overlapping_starts(num_frames: int, max_frames: int) -> list[int]:
    """Window starts every ``max_frames // 2`` frames (the last one ending at the video's end): each point of
    a long video lies in a window's middle half, so a segment cut by one window edge is whole in another."""
    if max_frames <= 0 or num_frames <= max_frames:
        return [0]
    hop = max(1, max_frames // 2)
    starts = list(range(0, num_frames - max_frames + 1, hop))
    if starts[-1] + max_frames < num_frames:
        starts.append(num_frames - max_frames)
    return starts


def edge_penalty(cands: np.ndarray, start: int, length: int, total: int, factor: float = 0.5) -> np.ndarray:
    """Window candidates -> global frames; a candidate touching an edge of the window that is not the
    video's (it may be a cut-off piece of a segment) has its score x ``factor``."""
    out = np.asarray(cands, dtype=np.float64).reshape(-1, 3).copy()
    cut = np.zeros(len(out), bool)
    if start > 0:
        cut |= out[:, 0] <= 0.5
    if start + length < total:
        cut |= out[:, 1] >= length - 0.5
    out[:, :2] += start
    out[cut, 2] *= factor
    return out


def video_proposals(cands, length: int, frame_probs, cfg) -> np.ndarray:
    """:func:`rank_segments` with a :class:`vocalens.localizer.config.ModelConfig`'s decoding settings."""
    return rank_segments(
        cands,
        length,
        frame_probs,
        fusion=cfg.boundary_fusion,
        sigma=cfg.boundary_sigma,
        voting_iou=cfg.boundary_voting,
        max_proposals=cfg.boundary_proposals,
        snap=cfg.boundary_snap,
    )


def proposals_to_seconds(proposals: np.ndarray, fps: float) -> list[list[float]]:
    """Rows (start, end, score) in frames -> the evaluators' ``[[score, start_s, end_s], ...]``."""
    return [[float(sc), float(s) / fps, float(e) / fps] for s, e, sc in np.asarray(proposals).reshape(-1, 3)]


def segment_f1(predicted: list, truth: list, iou: float = 0.5) -> tuple[int, int, int]:
    """(matches, predicted, true) counts: each true segment matched to at most one predicted one with IoU > iou."""
    p = np.asarray(predicted, dtype=np.float64).reshape(-1, 3)[:, :2]
    t = np.asarray(truth, dtype=np.float64).reshape(-1, 2)
    if not len(p) or not len(t):
        return 0, len(p), len(t)
    m = _iou_matrix(t, p) > iou
    used: set[int] = set()
    hits = 0
    for row in m:
        free = [j for j in np.flatnonzero(row) if j not in used]
        if free:
            used.add(free[0])
            hits += 1
    return hits, len(p), len(t)


def best_segment_threshold(proposals: dict, truth: dict, grid=None) -> tuple[float, float]:
    """(threshold, F1) of :func:`display_segments` at IoU 0.5 over videos ({id: proposals [K,3] frames},
    {id: true segments [K,2] frames}), best on the grid 0.05, 0.10, ..., 0.95 (0.5, nan with no truth)."""
    grid = grid if grid is not None else [round(0.05 * i, 2) for i in range(1, 20)]
    best = (0.5, float("nan"))
    for thr in grid:
        hits = n_pred = n_true = 0
        for vid, props in proposals.items():
            h, p, t = segment_f1(display_segments(props, thr), truth.get(vid, []))
            hits, n_pred, n_true = hits + h, n_pred + p, n_true + t
        if n_true == 0:
            return best
        f1 = 2 * hits / max(n_pred + n_true, 1)
        if not f1 <= best[1]:  # nan or better
            best = (thr, f1)
    return best
