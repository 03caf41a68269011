import pytest
import torch
import torch.nn.functional as F

from vocalens.errors import UserError
from vocalens.localizer.config import ModelConfig as LocalizerConfig
from vocalens.localizer.model import Localizer, sinusoidal_positions

torch.set_num_threads(1)


def make(dv=7, da=5, **kw):
    torch.manual_seed(0)
    cfg = dict(d_model=16, num_layers=1, nhead=2)
    cfg.update(kw)
    return Localizer(LocalizerConfig(dv, da, **cfg)).eval()


def batch(b=3, t=11, dv=7, da=5, lengths=(11, 6, 2)):
    g = torch.Generator().manual_seed(1)
    v, a = torch.randn(b, t, dv, generator=g), torch.randn(b, t, da, generator=g)
    mask = torch.arange(t)[None] < torch.tensor(lengths)[:, None]
    return v, a, mask


@pytest.mark.parametrize("dims", [(7, 5), (512, 1024), (3, 40)])
def test_shapes_any_dims(dims):
    dv, da = dims
    m = make(dv, da)
    v, a, mask = batch(dv=dv, da=da)
    f, vl, s = m(v, a, mask)
    assert f.shape == (3, 11) and vl.shape == (3,) and s.shape == (3, 11)
    assert f.dtype == vl.dtype == s.dtype == torch.float32


def test_similarity_is_cosine_of_projections():
    m = make()
    v, a, mask = batch()
    _, _, s = m(v, a, mask)
    want = F.cosine_similarity(m.v_proj(v, mask), m.a_proj(a, mask), dim=-1)
    torch.testing.assert_close(s, want)
    assert s.min() >= -1 - 1e-6 and s.max() <= 1 + 1e-6


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"cross_attn": False},
        {"video_head": False},
        {"num_layers": 2, "nhead": 4},
        {"conv_kernel": 7, "energy": True},
        {"conv_kernel": 9},
        {"energy": True},
    ],
)
def test_padding_is_invisible_to_valid_frames(kw):
    """A video alone gives the same outputs as inside a padded batch, whatever the padding holds."""
    m = make(**kw)
    v, a, mask = batch()
    v = v.masked_fill(~mask[..., None], 1e3)
    a = a.masked_fill(~mask[..., None], -1e3)
    f, vl, s = m(v, a, mask)
    for i, n in enumerate(mask.sum(1).tolist()):
        fi, vli, si = m(v[i : i + 1, :n], a[i : i + 1, :n])
        torch.testing.assert_close(f[i, :n], fi[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(s[i, :n], si[0], atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(vl[i], vli[0], atol=1e-5, rtol=1e-5)


def test_no_video_head_scores_video_by_max_valid_frame_logit():
    m = make(video_head=False)
    assert m.video_head is None
    v, a, mask = batch()
    f, vl, _ = m(v, a, mask)
    for i, n in enumerate(mask.sum(1).tolist()):
        assert vl[i].item() == pytest.approx(f[i, :n].max().item())


def test_no_cross_attn_has_no_attention_block_and_fewer_params():
    full, plain = make(), make(cross_attn=False)
    assert plain.cross is None
    assert plain.num_parameters() < full.num_parameters()


def test_similarity_feeds_the_classifier():
    """The frame classifier input is d_model + 1 wide: the explicit similarity is the last column."""
    m = make()
    assert m.frame_head[0].in_features == 16 + 1


def test_every_parameter_gets_gradient():
    m = make().train()
    v, a, mask = batch()
    f, vl, s, b = m(v, a, mask, all_heads=True)
    heads = b["cls"].sum() + b["offsets"].sum() + b["quality"].sum() + b["edges"].sum()  # the boundary head
    (f[mask].sum() + vl.sum() + s[mask].sum() + heads).backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None]
    assert not missing


def test_sinusoidal_positions():
    pe = sinusoidal_positions(50, 8)
    assert pe.shape == (50, 8)
    torch.testing.assert_close(pe[0], torch.tensor([0.0, 1.0] * 4))
    assert pe[7, 0].item() == pytest.approx(torch.sin(torch.tensor(7.0)).item(), abs=1e-6)
    assert len({tuple(r) for r in pe.round(decimals=4).tolist()}) == 50  # every position distinct


def test_projection_sees_exactly_conv_kernel_frames():
    """Changing input frame j moves projected frame i only when |i - j| <= conv_kernel // 2."""
    for k in (1, 5):
        m = make(conv_kernel=k, energy=False)
        v, _, _ = batch(b=1, lengths=(11,))
        base = m.v_proj(v)
        v2 = v.clone()
        v2[0, 5] += 3.0
        changed = (m.v_proj(v2) - base).abs().amax(-1)[0] > 1e-6
        assert changed.nonzero().flatten().tolist() == list(range(5 - k // 2, 5 + k // 2 + 1))


def test_conv_kernel_must_be_odd():
    with pytest.raises(UserError, match="odd"):
        make(conv_kernel=4)


def test_change_energy_hand_case_and_padding():
    from vocalens.localizer.model import change_energy

    x = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [3.0, 3.0], [0.0, 0.0]]])  # frame energies 1, 9, 9; changes 4, 4, 0
    mask = torch.tensor([[True, True, True, False]])
    e = change_energy(x, mask)
    raw = torch.log(torch.tensor([[1.0, 4.0], [9.0, 4.0], [9.0, 0.0]]) + 1e-4)
    want = (raw - raw.mean(0)) / raw.std(0, unbiased=False)
    torch.testing.assert_close(e[0, :3], want)
    assert e[0, 3].abs().sum() == 0
    torch.testing.assert_close(change_energy(x[:, :3], mask[:, :3]), e[:, :3])
    assert change_energy(torch.zeros(1, 5, 3), torch.ones(1, 5, dtype=torch.bool)).abs().sum() == 0  # ablated stream


def test_seed_projection_checkpoints_still_load():
    """A state dict from the seed's nn.Sequential(Linear, LayerNorm) projections loads into the default config."""
    m = make()
    sd = {k.replace("proj.linear.", "proj.0.").replace("proj.norm.", "proj.1."): v for k, v in m.state_dict().items()}
    assert "v_proj.0.weight" in sd
    fresh = make()
    torch.nn.init.zeros_(fresh.v_proj.linear.weight)
    fresh.load_state_dict(sd)
    torch.testing.assert_close(fresh.v_proj.linear.weight, m.v_proj.linear.weight)


@pytest.mark.parametrize("p", [0.0, 0.25])
def test_attn_dropout_reaches_every_attention_and_only_there(p):
    m = make(attn_dropout=p, dropout=0.1, num_layers=2)
    attn = [mod for mod in m.modules() if isinstance(mod, torch.nn.MultiheadAttention)]
    assert len(attn) == 4  # 2 cross-modal + 2 encoder layers
    assert all(mod.dropout == p for mod in attn)
    assert all(mod.p == 0.1 for mod in m.modules() if isinstance(mod, torch.nn.Dropout))
    assert LocalizerConfig(3, 4).attn_dropout == 0.0


def test_feature_norm_ignores_per_video_offsets_and_padding():
    import torch

    from vocalens.localizer.config import ModelConfig as LocalizerConfig
    from vocalens.localizer.model import Localizer

    torch.manual_seed(0)
    m = Localizer(
        LocalizerConfig(visual_dim=5, audio_dim=3, d_model=16, num_layers=1, nhead=2, dropout=0.0, feature_norm=True)
    ).eval()
    v, a = torch.randn(1, 30, 5), torch.randn(1, 30, 3)
    with torch.no_grad():
        base = m(v, a)
        shifted = m(v * 3.0 + torch.randn(1, 1, 5), a + 5.0)  # identity / lighting / gain: constant per video
        vp, ap = torch.cat([v, torch.randn(1, 10, 5)], 1), torch.cat([a, torch.randn(1, 10, 3)], 1)
        mask = torch.cat([torch.ones(1, 30), torch.zeros(1, 10)], 1).bool()
        padded = m(vp, ap, mask)
    torch.testing.assert_close(shifted[0], base[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(padded[0][:, :30], base[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(padded[1], base[1], atol=1e-4, rtol=1e-4)


def test_lag_profile_peaks_at_the_true_offset_and_ignores_padding():
    import torch

    from vocalens.localizer.config import ModelConfig as LocalizerConfig
    from vocalens.localizer.model import Localizer, lag_profile

    torch.manual_seed(0)
    base = torch.randn(1, 40, 8)
    audio = torch.roll(base, shifts=2, dims=1)  # audio frame t+2 = visual frame t
    mask = torch.ones(1, 40, dtype=torch.bool)
    prof = lag_profile(base, audio, mask, 3)  # lags -3..3 -> index 5 is +2
    assert prof.shape == (1, 40, 7)
    assert (prof[0, 3:35].argmax(-1) == 5).all() and torch.allclose(prof[0, 3:35, 5], torch.ones(32), atol=1e-5)
    m = Localizer(
        LocalizerConfig(visual_dim=8, audio_dim=8, d_model=16, num_layers=1, nhead=2, dropout=0.0, sync_lags=3)
    ).eval()
    padded_v, padded_a = torch.cat([base, torch.randn(1, 6, 8)], 1), torch.cat([audio, torch.randn(1, 6, 8)], 1)
    pmask = torch.cat([mask, torch.zeros(1, 6, dtype=torch.bool)], 1)
    with torch.no_grad():
        a, b = m(base, audio), m(padded_v, padded_a, pmask)
    torch.testing.assert_close(b[0][:, :40], a[0], atol=1e-4, rtol=1e-4)
    import pytest

    with pytest.raises(ValueError, match="one size"):
        Localizer(LocalizerConfig(visual_dim=8, audio_dim=4, sync_lags=2))


def test_sync_residual_adds_the_smoothed_raw_cosine_and_ignores_padding():
    import pytest
    import torch

    from vocalens.localizer.config import ModelConfig
    from vocalens.localizer.model import Localizer, masked_box

    x = torch.tensor([[1.0, 2.0, 3.0, 4.0, 9.0]])
    mask = torch.tensor([[True, True, True, True, False]])
    torch.testing.assert_close(masked_box(x, mask, 3), torch.tensor([[1.5, 2.0, 3.0, 3.5, 0.0]]))
    cfg = dict(visual_dim=8, audio_dim=8, d_model=16, num_layers=1, nhead=2, dropout=0.0)
    torch.manual_seed(0)
    plain = Localizer(ModelConfig(**cfg)).eval()
    res = Localizer(ModelConfig(**cfg, sync_residual=5)).eval()
    missing = res.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing == ["sync_residual.weight", "sync_residual.bias"]
    v, a = torch.randn(1, 30, 8), torch.randn(1, 30, 8)
    with torch.no_grad():
        torch.testing.assert_close(res(v, a)[0], plain(v, a)[0])  # zero-initialised: starts as the plain model
        res.sync_residual.weight.fill_(2.0)
        cos = torch.nn.functional.cosine_similarity(v, a, dim=-1)
        want = plain(v, a)[0] + 2.0 * -masked_box(cos, torch.ones(1, 30, dtype=torch.bool), 5)
        torch.testing.assert_close(res(v, a)[0], want, atol=1e-5, rtol=1e-5)
        pv, pa = torch.cat([v, torch.randn(1, 7, 8)], 1), torch.cat([a, torch.randn(1, 7, 8)], 1)
        pm = torch.cat([torch.ones(1, 30, dtype=torch.bool), torch.zeros(1, 7, dtype=torch.bool)], 1)
        torch.testing.assert_close(res(pv, pa, pm)[0][:, :30], res(v, a)[0], atol=1e-4, rtol=1e-4)
    assert ModelConfig.from_dict({"d_model": 16}).sync_residual == 0  # old checkpoints: off
    with pytest.raises(ValueError, match="one size"):
        Localizer(ModelConfig(visual_dim=8, audio_dim=4, sync_residual=5))
