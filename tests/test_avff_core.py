"""AVFF preprocessing, masks, losses and encoder weights round trip (tiny preset, CPU, fast)."""

import numpy as np
import pytest
import torch

from vocalens.avff.config import get_preset
from vocalens.avff.losses import classification_loss, complementary_masks, info_nce, masked_mse, normalize_patches
from vocalens.avff.model import build_model, pool_slices
from vocalens.avff.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    clip_log_mel,
    clip_sample_range,
    clip_starts,
    make_clips,
    normalize_faces,
    plot_mel_spectrogram,
)


def test_clip_frames_and_audio_cover_the_same_span():
    fps, sr, T = 25.0, 16000, 100
    # frame i shows value i; the audio sample at time t holds the index of the frame on screen at t
    faces = np.broadcast_to(np.arange(T, dtype=np.uint8)[:, None, None, None], (T, 4, 4, 3)).copy()
    audio = (np.floor(np.arange(int(T / fps * sr)) / sr * fps)).astype(np.float32)
    starts = [0, 7, 60]
    frames, waves = make_clips(faces, audio, starts, num_frames=8, stride=2, fps=fps, sample_rate=sr)
    assert frames.shape == (3, 8, 4, 4, 3) and waves.shape == (3, int(16 / fps * sr))
    for c, s in enumerate(starts):
        shown = frames[c, :, 0, 0, 0].astype(int)
        assert shown.tolist() == list(range(s, s + 16, 2))
        # the audio of the clip runs from the first frame's start to the end of the span's last frame
        heard = np.unique(waves[c]).astype(int)
        assert heard.min() == s and heard.max() == s + 15
        a, b = clip_sample_range(s, 16, fps, sr)
        assert (a, b) == (int(s / fps * sr), int((s + 16) / fps * sr))


def test_clips_past_the_end_repeat_last_frame_and_pad_silence():
    faces = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    audio = np.ones(int(10 / 25 * 16000), np.float32)
    frames, waves = make_clips(faces, audio, [6], num_frames=8, stride=1)
    assert frames[0, :, 0, 0, 0].tolist() == [6, 7, 8, 9, 9, 9, 9, 9]
    assert waves[0, : int(4 / 25 * 16000)].min() == 1 and waves[0, int(4 / 25 * 16000) :].max() == 0


def test_clip_starts_tile_the_whole_video():
    assert clip_starts(100, 32) == [0, 32, 64, 68]
    assert clip_starts(96, 32) == [0, 32, 64]
    assert clip_starts(10, 32) == [0]
    assert clip_starts(100, 32, hop=16)[-1] == 68


def test_imagenet_normalisation_values():
    img = np.zeros((1, 8, 8, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 255, 0, 128
    x = normalize_faces(img, 8)
    assert x.shape == (1, 3, 8, 8)
    expect = [
        (1.0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0],
        (0.0 - IMAGENET_MEAN[1]) / IMAGENET_STD[1],
        (128 / 255 - IMAGENET_MEAN[2]) / IMAGENET_STD[2],
    ]
    np.testing.assert_allclose(x[0, :, 3, 3].numpy(), expect, rtol=1e-5)
    assert abs(expect[0] - 2.2489) < 1e-3  # (1 - 0.485) / 0.229
    # resizing keeps a constant image constant
    np.testing.assert_allclose(normalize_faces(np.repeat(img, 2, 0), 4)[:, 2].numpy(), expect[2], rtol=1e-5)


def test_log_mel_matches_direct_numpy_computation():
    sr, n_fft, hop, n_mels = 16000, 1024, 512, 64
    rng = np.random.default_rng(0)
    t = np.arange(int(0.64 * sr)) / sr
    wave = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    frames = len(wave) // hop + 1
    got = clip_log_mel(torch.from_numpy(wave)[None], n_fft, hop, n_mels, frames - 1, sr)[0].numpy()
    assert got.shape == (n_mels, frames - 1)
    # numpy: reflect-pad, periodic Hann, |rfft|^2, HTK triangular mel filters, 10 log10
    x = np.pad(wave.astype(np.float64), n_fft // 2, mode="reflect")
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    spec = np.stack([np.abs(np.fft.rfft(x[i * hop : i * hop + n_fft] * win)) ** 2 for i in range(frames)], 1)

    def mel(f):
        return 2595 * np.log10(1 + f / 700)

    def imel(m):
        return 700 * (10 ** (m / 2595) - 1)

    pts = imel(np.linspace(0, mel(sr / 2), n_mels + 2))
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    fb = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        lo, c, hi = pts[m], pts[m + 1], pts[m + 2]
        fb[m] = np.clip(np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c)), 0, None)
    expect = 10 * np.log10(fb @ spec + 1e-10)[:, : frames - 1]
    np.testing.assert_allclose(got, expect, atol=2e-3 * np.abs(expect).max())
    assert np.argmax(got[:, 5]) == np.argmax(expect[:, 5])  # the 440 Hz band


def test_plot_mel_spectrogram_writes_png(tmp_path):
    plot_mel_spectrogram(torch.randn(1, 16, 20), tmp_path / "mel.png")
    assert (tmp_path / "mel.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("k", [2, 4, 8])
def test_complementary_masks_every_slice_visible_to_exactly_one_modality(k):
    g = torch.Generator().manual_seed(0)
    v, a = complementary_masks(64, k, generator=g)
    assert v.dtype == torch.bool and v.shape == (64, k)
    assert torch.all(v ^ a)  # exactly one of the two sees each slice
    assert torch.all(v.sum(1) == k // 2) and torch.all(a.sum(1) == k // 2)
    assert len({tuple(r.tolist()) for r in v}) > 1  # random per clip


def test_masked_mse_counts_only_masked_slices():
    pred = torch.zeros(1, 3, 2)
    target = torch.tensor([[[1.0, 1.0], [2.0, 0.0], [100.0, 100.0]]])
    masked = torch.tensor([[True, True, False]])
    # slice 0: mean((1, 1)^2) = 1; slice 1: mean((2, 0)^2) = 2; slice 2 ignored
    assert masked_mse(pred, target, masked).item() == pytest.approx(1.5)


def test_normalize_patches_zero_mean_unit_variance():
    x = torch.tensor([[1.0, 2.0, 3.0, 6.0]])
    y = normalize_patches(x)
    assert y.mean().item() == pytest.approx(0, abs=1e-6)
    assert y.var(unbiased=False).item() == pytest.approx(1, abs=1e-4)


def test_info_nce_hand_computation():
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    a = torch.tensor([[2.0, 0.0], [1.0, 1.0]])  # normalised: (1, 0), (.707, .707)
    t = 0.5
    s = np.array([[1.0, np.sqrt(0.5)], [0.0, np.sqrt(0.5)]]) / t
    row = -np.mean([s[i, i] - np.log(np.exp(s[i]).sum()) for i in range(2)])
    col = -np.mean([s[i, i] - np.log(np.exp(s[:, i]).sum()) for i in range(2)])
    assert info_nce(v, a, t).item() == pytest.approx(0.5 * (row + col), rel=1e-5)
    # matched pairs score lower than shuffled ones
    x = torch.randn(8, 16)
    assert info_nce(x, x + 0.01 * torch.randn(8, 16)) < info_nce(x, x.roll(1, 0))


def test_info_nce_hard_negatives_enter_the_visual_to_audio_term_only():
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    a = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    n = torch.tensor([[0.0, 3.0], [1.0, 0.0]])  # normalised: (0, 1), (1, 0)
    t = 0.5
    s = np.array([[1.0, np.sqrt(0.5)], [0.0, np.sqrt(0.5)]]) / t
    sn = np.array([[0.0, 1.0], [1.0, 0.0]]) / t
    full = np.concatenate([s, sn], axis=1)
    row = -np.mean([full[i, i] - np.log(np.exp(full[i]).sum()) for i in range(2)])
    col = -np.mean([s[i, i] - np.log(np.exp(s[:, i]).sum()) for i in range(2)])
    assert info_nce(v, a, t, n).item() == pytest.approx(0.5 * (row + col), rel=1e-5)
    # a negative equal to the positive costs more than an orthogonal one
    x = torch.randn(4, 8)
    assert info_nce(x, x, 0.1, x.clone()) > info_nce(x, x, 0.1, torch.zeros(4, 8).index_fill_(1, torch.tensor([0]), 1))


def test_shifted_audio_negatives_come_from_another_time_of_the_same_video(tmp_path):
    from vocalens.avff.data import ClipDataset, VideoItem, random_shift, shifted_audio

    sr = 16000
    for seed in range(20):
        k = random_shift(3 * sr, int(0.4 * sr), torch.Generator().manual_seed(seed))
        assert int(0.4 * sr) <= k <= int(2.6 * sr)  # >= 0.4 s away in both directions (circular)
    assert random_shift(100, 80) == 80  # too short: the smallest shift
    assert np.array_equal(shifted_audio(np.arange(5, dtype=np.float32), 2), [3, 4, 0, 1, 2])

    cfg = get_preset("tiny")
    frames = np.random.default_rng(0).integers(0, 255, (75, 32, 32, 3), dtype=np.uint8)
    audio = np.arange(3 * sr, dtype=np.float32)  # sample value = its time index
    path = tmp_path / "v.mp4"
    path.write_bytes(b"x")
    from vocalens.avff import data as avff_data

    prepared = avff_data.Prepared(frames, audio, 25.0, 1.0)
    orig = avff_data.prepare
    avff_data.prepare = lambda *a, **k: prepared
    try:
        item = VideoItem(path, 0, "v")
        ds = ClipDataset([item], cfg, None, clips_per_video=8, random=True, hard_negatives=True, shift_fake_prob=1.0)
        torch.manual_seed(0)
        for i in range(8):
            x = ds[i]
            assert x["label"].item() == 1.0  # real clip turned fake by its shifted audio
            assert torch.equal(x["wave"], x["wave_shift"])
            assert x["wave"].shape[0] == cfg.clip_samples
        # validation clip: the middle one (start frame 33 = sample 21120); its negative is the same
        # contiguous audio from >= 0.4 s away (circularly), fixed across calls
        val = ClipDataset([item], cfg, None, clips_per_video=1, random=False, hard_negatives=True)
        x = val[0]
        assert x["label"].item() == 0.0 and x["wave"][0].item() == 21120
        w = x["wave_shift"].numpy()
        assert np.array_equal(w, (w[0] + np.arange(len(w))) % (3 * sr))
        d = abs(w[0] - 21120)
        assert min(d, 3 * sr - d) >= 0.4 * sr
        assert torch.equal(val[0]["wave_shift"], x["wave_shift"])
        fake = ClipDataset([VideoItem(path, 1, "f")], cfg, None, clips_per_video=4, random=True, shift_fake_prob=1.0)
        assert all(fake[i]["label"].item() == 1.0 and "wave_shift" not in fake[i] for i in range(4))
        plain = ClipDataset([item], cfg, None, clips_per_video=4, random=True)
        for i in range(4):
            x = plain[i]
            assert x["label"].item() == 0.0 and "wave_shift" not in x
            w = x["wave"].numpy()
            assert np.array_equal(w, w[0] + np.arange(len(w)))  # aligned audio: contiguous, no shift
    finally:
        avff_data.prepare = orig


def test_classification_loss_hand_computation():
    logits, labels = torch.tensor([0.0, 2.0]), torch.tensor([1.0, 0.0])
    expect = np.mean([np.log(2), np.log(1 + np.exp(2))])
    assert classification_loss(logits, labels).item() == pytest.approx(expect, rel=1e-6)


def test_pool_slices_means_contiguous_ranges():
    x = torch.arange(8.0).view(1, 8, 1)
    assert pool_slices(x, 4).flatten().tolist() == [0.5, 2.5, 4.5, 6.5]


def test_pretrain_losses_ignore_masked_inputs_and_backprop():
    torch.manual_seed(0)
    cfg = get_preset("tiny")
    model = build_model(cfg).eval()
    b = 3
    frames = torch.randn(b, cfg.num_frames, 3, cfg.image_size, cfg.image_size)
    wave = torch.randn(b, cfg.clip_samples)
    v_vis, a_vis = complementary_masks(b, cfg.num_slices, generator=torch.Generator().manual_seed(1))
    v_slices, a_slices = model.slice_tokens(frames, wave)
    v_ctx, _ = model.contextual(v_slices, a_slices, v_vis, a_vis)
    # changing a masked visual slice's tokens leaves the visible slices' context unchanged
    poked = v_slices.clone()
    poked[~v_vis] += 5.0
    v_ctx2, _ = model.contextual(poked, a_slices, v_vis, a_vis)
    torch.testing.assert_close(v_ctx2[v_vis], v_ctx[v_vis])
    out = model.train()(frames, wave, v_vis)
    assert set(out) >= {"loss", "rec_visual", "rec_audio", "contrastive"}
    expect = cfg.rec_weight * (out["rec_visual"] + out["rec_audio"]) + cfg.contrastive_weight * out["contrastive"]
    assert out["loss"].item() == pytest.approx(expect.item(), rel=1e-5)
    model.set_stage("pretrain")
    out["loss"].backward()
    assert (
        model.a2v.out.weight.grad is not None
        and model.visual.backbone.embeddings.patch_embeddings.projection.weight.grad is not None
    )
    assert model.classifier[1].weight.grad is None


@pytest.mark.parametrize("audio", ["wav2vec2", "mel"])
@pytest.mark.parametrize("stage", ["pretrain", "classify"])
def test_every_trainable_parameter_gets_a_gradient(stage, audio):
    """What DDP needs without an unused-parameter search: trainable <=> used by the stage's loss."""
    cfg = get_preset("tiny", audio_encoder=audio)
    model = build_model(cfg).train()
    model.set_stage(stage)
    frames = torch.randn(4, cfg.num_frames, 3, cfg.image_size, cfg.image_size)
    wave = torch.randn(4, cfg.clip_samples)
    if stage == "pretrain":
        model(frames, wave, complementary_masks(4, cfg.num_slices)[0])["loss"].backward()
    else:
        model(frames, wave).sum().backward()
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert unused == []


def test_set_stage_freezes_the_right_parts():
    model = build_model(get_preset("tiny"))
    model.set_stage("classify", freeze_encoders=True)
    assert not any(p.requires_grad for p in model.visual.parameters())
    assert not any(p.requires_grad for p in model.visual_decoder.parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())
    model.set_stage("classify")
    assert all(p.requires_grad for n, p in model.audio.named_parameters() if not n.endswith("masked_spec_embed"))
    assert not model.audio.backbone.masked_spec_embed.requires_grad  # SpecAugment is off: never used


def test_tiny_vit_and_wav2vec2_round_trip_through_local_folders(tmp_path):
    from transformers import ViTModel, Wav2Vec2Model

    cfg = get_preset("tiny")
    torch.manual_seed(0)
    a = build_model(cfg).eval()
    a.visual.backbone.save_pretrained(tmp_path / "vit")
    a.audio.backbone.save_pretrained(tmp_path / "w2v")
    assert (tmp_path / "vit" / "config.json").is_file()
    cfg2 = get_preset("tiny", visual_weights=str(tmp_path / "vit"), audio_weights=str(tmp_path / "w2v"))
    torch.manual_seed(1)  # different init for everything else: the backbones must come from the folders
    b = build_model(cfg2).eval()
    x = torch.randn(2, 3, cfg.image_size, cfg.image_size)
    w = torch.randn(2, cfg.clip_samples)
    with torch.no_grad():
        torch.testing.assert_close(
            b.visual.backbone(pixel_values=x).last_hidden_state, a.visual.backbone(pixel_values=x).last_hidden_state
        )
        torch.testing.assert_close(b.audio.backbone(w).last_hidden_state, a.audio.backbone(w).last_hidden_state)
    assert isinstance(ViTModel.from_pretrained(str(tmp_path / "vit")), ViTModel)
    assert isinstance(Wav2Vec2Model.from_pretrained(str(tmp_path / "w2v")), Wav2Vec2Model)


def test_missing_weights_folder_is_a_user_error(tmp_path):
    from vocalens.errors import UserError

    with pytest.raises(UserError, match="nothing is downloaded"):
        build_model(get_preset("tiny", visual_weights=str(tmp_path / "nope")))


def test_mel_audio_encoder_shapes():
    cfg = get_preset("tiny", audio_encoder="mel")
    model = build_model(cfg).eval()
    v, a = model.slice_tokens(
        torch.randn(2, cfg.num_frames, 3, cfg.image_size, cfg.image_size), torch.randn(2, cfg.clip_samples)
    )
    assert v.shape == a.shape == (2, cfg.num_slices, cfg.dim)
    assert model(
        torch.randn(2, cfg.num_frames, 3, cfg.image_size, cfg.image_size), torch.randn(2, cfg.clip_samples)
    ).shape == (2,)


def test_csv_items_and_errors(tmp_path):
    from vocalens.avff.data import read_csv_items
    from vocalens.errors import UserError

    (tmp_path / "v.csv").write_text("path,label,manipulation\na/x.mp4,0,\n/abs/y.mp4,fake,audio\nz.mp4,1,\n")
    items = read_csv_items(tmp_path / "v.csv")
    assert [i.label for i in items] == [0, 1, 1]
    assert items[0].path == tmp_path / "a" / "x.mp4" and str(items[1].path) == "/abs/y.mp4"
    assert [i.manipulation for i in items] == ["real", "audio", "unknown"]
    (tmp_path / "bad.csv").write_text("x.mp4,maybe\n")
    with pytest.raises(UserError, match="bad.csv:1"):
        read_csv_items(tmp_path / "bad.csv")


def test_metrics_by_manipulation_hand_computed():
    from vocalens.avff.predict import metrics_by_manipulation, pool_scores

    labels = [0, 0, 1, 1, 1]
    scores = [0.1, 0.6, 0.7, 0.2, 0.9]
    kinds = ["real", "real", "audio", "visual", "audio"]
    m = metrics_by_manipulation(labels, scores, kinds)
    # all: pairs (fake > real) won: .7>.1, .7>.6, .2>.1, .9>.1, .9>.6 = 5 of 6
    assert m["all"]["auc"] == pytest.approx(5 / 6)
    assert m["all"]["accuracy"] == pytest.approx(3 / 5)  # .1 real ok, .6 wrong, .7 ok, .2 wrong, .9 ok
    assert m["audio"]["auc"] == pytest.approx(1.0) and m["audio"]["n"] == 4
    assert m["visual"]["auc"] == pytest.approx(0.5) and m["visual"]["n_fake"] == 1
    assert pool_scores([0.1, 0.5, 0.3], "max") == 0.5 and pool_scores([0.1, 0.5, 0.3], "top3") == pytest.approx(0.3)


def test_decoded_clip_keeps_a_flash_and_its_beep_together(tmp_path):
    """Through a real H.264/AAC file: the frame that flashes and the beep at the same moment land at
    the same offset inside the clip."""
    from vocalens.avff.data import prepare
    from vocalens.media.video import write_video

    fps, sr = 25, 16000
    frames = np.zeros((50, 32, 32, 3), np.uint8)
    frames[30] = 255  # 1.20 s
    wave = np.zeros(2 * sr, np.float32)
    t = np.arange(int(0.04 * sr)) / sr
    wave[int(1.2 * sr) : int(1.24 * sr)] = 0.5 * np.sin(2 * np.pi * 1000 * t)
    path = write_video(tmp_path / "flash.mp4", frames, fps, wave)
    p = prepare(path, 32, None, faces="center")
    clip_frames, clip_waves = make_clips(p.faces, p.audio, [24], num_frames=8, stride=1)
    flash = int(np.argmax(clip_frames[0].reshape(8, -1).mean(1)))
    onset = np.flatnonzero(np.abs(clip_waves[0]) > 0.1)[0] / sr
    assert flash == 6
    assert abs(onset - flash / fps) < 0.01
