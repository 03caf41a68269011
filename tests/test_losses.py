import math

import pytest
import torch

from vocalens.localizer.config import LossConfig
from vocalens.localizer.losses import (
    auto_pos_weight,
    frame_bce,
    frame_focal,
    localizer_loss,
    similarity_mse,
    smoothness,
    video_bce,
)

torch.set_num_threads(1)

LOGITS = torch.tensor([[0.0, 2.0, -1.0, 5.0]])
LABELS = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
MASK = torch.tensor([[True, True, True, False]])


def sig(x):
    return 1 / (1 + math.exp(-x))


def test_frame_bce_hand_computed_with_pos_weight():
    pw = 3.0
    want = (-pw * math.log(sig(0.0)) - math.log(1 - sig(2.0)) - pw * math.log(sig(-1.0))) / 3
    assert frame_bce(LOGITS, LABELS, MASK, pw).item() == pytest.approx(want, rel=1e-6)


def test_focal_hand_computed():
    a, g = 0.25, 2.0
    terms = [
        a * (1 - sig(0.0)) ** g * -math.log(sig(0.0)),
        (1 - a) * sig(2.0) ** g * -math.log(1 - sig(2.0)),
        a * (1 - sig(-1.0)) ** g * -math.log(sig(-1.0)),
    ]
    assert frame_focal(LOGITS, LABELS, MASK, a, g).item() == pytest.approx(sum(terms) / 3, rel=1e-6)


def test_focal_with_gamma0_alpha_half_is_half_bce():
    assert frame_focal(LOGITS, LABELS, MASK, 0.5, 0.0).item() == pytest.approx(
        0.5 * frame_bce(LOGITS, LABELS, MASK).item()
    )


def test_smoothness_uses_only_valid_pairs():
    p = [sig(0.0), sig(2.0), sig(-1.0)]  # the 4th frame is padding: pair (2,3) excluded
    want = ((p[1] - p[0]) ** 2 + (p[2] - p[1]) ** 2) / 2
    assert smoothness(LOGITS, MASK).item() == pytest.approx(want, rel=1e-6)


def test_similarity_mse_towards_one_minus_label():
    sim = torch.tensor([[0.5, 0.9, -0.2, 0.3]])
    want = ((0.5 - 0) ** 2 + (0.9 - 1) ** 2 + (-0.2 - 0) ** 2) / 3
    assert similarity_mse(sim, LABELS, MASK).item() == pytest.approx(want, rel=1e-6)


def test_video_bce():
    want = (-math.log(sig(1.5)) - math.log(1 - sig(-0.5))) / 2
    assert video_bce(torch.tensor([1.5, -0.5]), torch.tensor([1.0, 0.0])).item() == pytest.approx(want, rel=1e-6)


def test_total_is_weighted_sum_and_zero_weights_drop_terms():
    sim = torch.tensor([[0.5, 0.9, -0.2, 0.3]])
    vlog, vlab = torch.tensor([0.7]), torch.tensor([1.0])
    cfg = LossConfig(pos_weight=2.0, video_loss_weight=0.3, smooth_loss_weight=0.1, similarity_loss_weight=0.2)
    total, parts = localizer_loss(LOGITS, vlog, sim, LABELS, vlab, MASK, cfg)
    want = (
        frame_bce(LOGITS, LABELS, MASK, 2.0)
        + 0.3 * video_bce(vlog, vlab)
        + 0.1 * smoothness(LOGITS, MASK)
        + 0.2 * similarity_mse(sim, LABELS, MASK)
    )
    assert total.item() == pytest.approx(want.item(), rel=1e-6)
    assert set(parts) == {"frame", "video", "smooth", "similarity"}
    total0, parts0 = localizer_loss(
        LOGITS,
        vlog,
        sim,
        LABELS,
        vlab,
        MASK,
        LossConfig(pos_weight=2.0, video_loss_weight=0, smooth_loss_weight=0, similarity_loss_weight=0),
    )
    assert set(parts0) == {"frame"} and total0.item() == pytest.approx(parts["frame"].item())


@pytest.mark.parametrize("use_focal", [False, True])
def test_padding_never_changes_any_loss(use_focal):
    g = torch.Generator().manual_seed(0)
    b, t = 3, 12
    lengths = torch.tensor([12, 7, 3])
    mask = torch.arange(t)[None] < lengths[:, None]
    logits = torch.randn(b, t, generator=g)
    sim = torch.rand(b, t, generator=g) * 2 - 1
    labels = (torch.rand(b, t, generator=g) > 0.6).float()
    vlog, vlab = torch.randn(b, generator=g), torch.tensor([1.0, 0.0, 1.0])
    cfg = LossConfig(pos_weight=4.0, use_focal=use_focal)
    base, base_parts = localizer_loss(logits, vlog, sim, labels, vlab, mask, cfg)
    pad = ~mask
    logits2 = logits.masked_fill(pad, 50.0)
    sim2 = sim.masked_fill(pad, -7.0)
    labels2 = labels.masked_fill(pad, 1.0)
    other, other_parts = localizer_loss(logits2, vlog, sim2, labels2, vlab, mask, cfg)
    assert other.item() == pytest.approx(base.item(), abs=1e-7)
    for k in base_parts:
        assert other_parts[k].item() == pytest.approx(base_parts[k].item(), abs=1e-7)
    # and equals the per-video losses on unpadded rows, frame-weighted
    frames = [
        frame_bce(logits[i : i + 1, :n], labels[i : i + 1, :n], torch.ones(1, n, dtype=torch.bool), 4.0)
        for i, n in enumerate(lengths.tolist())
    ]
    if not use_focal:
        want = sum(f.item() * n for f, n in zip(frames, lengths.tolist())) / lengths.sum().item()
        assert base_parts["frame"].item() == pytest.approx(want, rel=1e-6)


def test_padding_gets_no_gradient():
    logits = torch.randn(2, 5, requires_grad=True)
    sim = torch.randn(2, 5, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    labels = torch.zeros(2, 5)
    total, _ = localizer_loss(logits, torch.zeros(2), sim, labels, torch.zeros(2), mask, LossConfig(pos_weight=1.0))
    total.backward()
    assert torch.all(logits.grad[0, 3:] == 0) and torch.all(sim.grad[0, 3:] == 0)
    assert torch.all(logits.grad[1] != 0)


def test_auto_pos_weight():
    assert auto_pos_weight(20, 80) == 4.0
    assert auto_pos_weight(0, 10) == 1.0
