"""What makes `small` detect: the lower-face crop, soft clip targets, the per-slice (lip-sync) InfoNCE
and the slice mean+max classifier input (tiny sizes, CPU, fast)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vocalens.avff.config import AVFFConfig, get_preset
from vocalens.avff.data import VideoItem, clip_fake_fraction, clip_label, training_target
from vocalens.avff.losses import complementary_masks, info_nce, slice_info_nce
from vocalens.avff.model import build_model, laplacian_magnitude
from vocalens.avff.preprocess import CROP_REGIONS, crop_source_size, region_crops
from vocalens.errors import UserError


def test_mouth_region_is_cut_exactly_at_its_fractions():
    faces = np.arange(100 * 100 * 3, dtype=np.int64).reshape(1, 100, 100, 3) % 251
    faces = faces.astype(np.uint8)
    top, left, side = CROP_REGIONS["mouth"]
    out = region_crops(faces, "mouth", 42)  # 0.42 * 100 = 42 px: a plain slice, no resampling
    assert out.shape == (1, 42, 42, 3)
    np.testing.assert_array_equal(out[0], faces[0, 49:91, 29:71])
    assert (round(top * 100), round(left * 100), round(side * 100)) == (49, 29, 42)


def test_mouth_region_holds_the_face_modules_mouth_box():
    """The lower-face crop contains the mouth box of `vocalens.media.faces` (crop_faces framing)."""
    from vocalens.media.faces import mouth_box

    x0, y0, x1, y1 = mouth_box(1000, 0.25)
    top, left, side = CROP_REGIONS["mouth"]
    assert top * 1000 <= y0 and y1 <= (top + side) * 1000
    assert left * 1000 <= x0 and x1 <= (left + side) * 1000


def test_region_crop_resizes_a_flat_region_to_the_same_colour():
    faces = np.zeros((2, 152, 152, 3), np.uint8)
    faces[:, 74:138, 44:108] = (200, 10, 90)  # exactly the mouth region of a 152 px crop
    assert crop_source_size(64, "mouth") == 152 and crop_source_size(64, "face") == 64
    out = region_crops(faces, "mouth", 32)
    assert out.shape == (2, 32, 32, 3)
    assert np.abs(out[:, 2:-2, 2:-2].astype(int) - [200, 10, 90]).max() <= 1


def test_prepare_with_mouth_crop_caches_separately(tmp_path):
    from vocalens.avff.data import prepare
    from vocalens.media.video import write_video

    frames = np.zeros((10, 96, 96, 3), np.uint8)
    frames[:, 60:, :] = 255  # bright lower part: the mouth crop sees more of it than the face crop
    path = write_video(tmp_path / "v.mp4", frames, 25, np.zeros(6400, np.float32))
    face = prepare(path, 32, tmp_path / "cache", faces="center")
    mouth = prepare(path, 32, tmp_path / "cache", faces="center", crop="mouth")
    assert face.faces.shape == mouth.faces.shape == (10, 32, 32, 3)
    assert len(list((tmp_path / "cache").iterdir())) == 2
    assert mouth.faces.mean() > face.faces.mean() + 30


def test_clip_fake_fraction_and_soft_targets():
    item = VideoItem(path=None, label=1, video_id="v", fake_periods=((1.0, 1.4),))  # frames 25..34 fake
    assert clip_fake_fraction(item, 0, 20, 100, 25.0) == 0.0
    assert clip_fake_fraction(item, 20, 20, 100, 25.0) == pytest.approx(10 / 20)
    assert clip_fake_fraction(item, 34, 32, 100, 25.0) == pytest.approx(1 / 32)
    assert clip_label(item, 34, 32, 100, 25.0) == 1  # evaluation rule: any fake frame
    assert training_target(1 / 32, 0.0) == 1.0
    assert training_target(1 / 32, 0.25) == pytest.approx(0.125)
    assert training_target(0.5, 0.25) == 1.0 and training_target(0.0, 0.25) == 0.0
    real = VideoItem(path=None, label=0, video_id="r")
    whole = VideoItem(path=None, label=1, video_id="w")
    assert clip_fake_fraction(real, 0, 20, 100, 25.0) == 0.0 and clip_fake_fraction(whole, 0, 20, 100, 25.0) == 1.0


def test_slice_info_nce_is_clip_info_nce_per_slice():
    torch.manual_seed(0)
    v, a, n = torch.randn(3, 4, 8), torch.randn(3, 4, 8), torch.randn(2, 4, 8)
    want = np.mean([float(info_nce(v[:, k], a[:, k], 0.1, n[:, k])) for k in range(4)])
    assert float(slice_info_nce(v, a, 0.1, n)) == pytest.approx(want, rel=1e-5)


def test_slice_info_nce_ignores_slice_position_but_not_timing():
    """Negatives are the same slice of the time-shifted audio: a positional code shared by face and
    audio tokens cannot solve it, only the content at that moment."""
    k, d = 4, 6
    pos = torch.eye(k, d) * 5  # the same position code on both streams
    content = torch.randn(1, k, d)
    v, a = pos + content, pos + content  # aligned audio: same content per slice
    shifted = pos + content.roll(1, dims=1)  # the same audio, one slice later
    aligned = float(slice_info_nce(v, a, 1.0, shifted))
    swapped = float(slice_info_nce(v, shifted, 1.0, a))  # now the shifted one is called positive
    assert aligned < swapped
    # identical positive and negative: exactly log 2 for the visual->audio term, 0 for audio->visual (B=1)
    same = float(slice_info_nce(v, a, 1.0, a))
    assert same == pytest.approx(0.5 * math.log(2), rel=1e-5)


def test_config_rejects_unknown_choices():
    for kw in ({"crop": "eyes"}, {"contrastive": "frame"}, {"head": "max"}, {"visual_pool": "max"}):
        with pytest.raises(UserError):
            get_preset("tiny", **kw)


def test_old_checkpoint_configs_keep_the_old_behaviour():
    """A config stored before these fields existed reads back as whole-face, clip InfoNCE, mean head."""
    d = get_preset("small").to_dict()
    for k in ("crop", "contrastive", "head", "temporal_delta", "visual_pool", "highpass", "stream_heads"):
        d.pop(k)
    cfg = AVFFConfig.from_dict(d)
    assert (
        cfg.crop,
        cfg.contrastive,
        cfg.head,
        cfg.temporal_delta,
        cfg.visual_pool,
        cfg.highpass,
        cfg.stream_heads,
    ) == ("face", "clip", "mean", False, "cls", False, False)
    small = get_preset("small")
    assert small.contrastive_weight == 1.0
    assert (
        small.crop,
        small.contrastive,
        small.head,
        small.temporal_delta,
        small.visual_pool,
        small.highpass,
        small.stream_heads,
    ) == ("mouth", "slice", "slices", True, "mean", True, True)


@pytest.mark.parametrize("audio", ["wav2vec2", "mel"])
@pytest.mark.parametrize("stage", ["pretrain", "classify"])
def test_slice_head_and_slice_loss_train_every_parameter(stage, audio):
    cfg = get_preset(
        "tiny",
        contrastive="slice",
        head="slices",
        crop="mouth",
        temporal_delta=True,
        audio_encoder=audio,
        highpass=True,
        stream_heads=True,
    )
    model = build_model(cfg).train()
    model.set_stage(stage)
    frames = torch.randn(3, cfg.num_frames, 3, cfg.image_size, cfg.image_size)
    wave = torch.randn(3, cfg.clip_samples)
    if stage == "pretrain":
        out = model(frames, wave, complementary_masks(3, cfg.num_slices)[0], wave.roll(900, 1))
        assert torch.isfinite(out["contrastive"])
        out["loss"].backward()
    else:
        assert model.embed(frames, wave).shape == (3, 2 * (3 * cfg.dim + 1))
        model(frames, wave).sum().backward()
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert unused == []


def test_slice_head_holds_the_mean_and_the_max_over_slices():
    """[mean over slices, max over slices] of the same per-slice tokens: the max half bounds the mean half."""
    torch.manual_seed(0)
    cfg = get_preset("tiny", head="slices", audio_encoder="mel")
    model = build_model(cfg).eval()
    frames = torch.randn(1, cfg.num_frames, 3, cfg.image_size, cfg.image_size)
    wave = torch.randn(1, cfg.clip_samples)
    with torch.no_grad():
        e = model.embed(frames, wave)
    half = e.shape[1] // 2
    mean_part, max_part = e[0, :half], e[0, half:]
    assert torch.all(max_part >= mean_part - 1e-5)


def test_sync_hits_count_slices_where_the_aligned_audio_wins():
    from vocalens.avff.tasks import sync_hits

    torch.manual_seed(0)
    cfg = get_preset("tiny", audio_encoder="mel")
    model = build_model(cfg).eval()
    frames = torch.randn(3, cfg.num_frames, 3, cfg.image_size, cfg.image_size)
    wave = torch.randn(3, cfg.clip_samples)
    same = sync_hits(model, frames, wave, wave.clone(), per_slice=True)
    assert same.tolist() == [0.0, 0.0, 0.0]  # a tie is no hit
    other = sync_hits(model, frames, wave, torch.randn(3, cfg.clip_samples), per_slice=True)
    assert other.shape == (3,)
    assert torch.allclose(other * cfg.num_slices, (other * cfg.num_slices).round())  # whole slices
    clip = sync_hits(model, frames, wave, torch.randn(3, cfg.clip_samples), per_slice=False)
    assert set(clip.tolist()) <= {0.0, 1.0}


def test_temporal_delta_channels_drop_what_is_constant_over_the_clip():
    """With temporal_delta the ViT gets 6 channels and the mel stream 2 x n_mels inputs; a clip whose
    frames are all the same has all-zero delta channels, so only the first 3 channels matter."""
    torch.manual_seed(0)
    cfg = get_preset("tiny", audio_encoder="mel", temporal_delta=True)
    model = build_model(cfg).eval()
    assert model.visual.backbone.config.num_channels == 6
    assert model.audio.embed.in_features == 2 * cfg.n_mels
    seen = {}
    model.visual.backbone.embeddings.register_forward_hook(lambda m, i, o: seen.setdefault("x", i[0]))
    still = torch.randn(1, 1, 3, cfg.image_size, cfg.image_size).expand(1, cfg.num_frames, -1, -1, -1)
    with torch.no_grad():
        model.visual(still)
    x = seen["x"]
    assert x.shape[1] == 6 and x[:, 3:].abs().max() < 1e-5 and torch.equal(x[:, :3], still.flatten(0, 1))


def test_temporal_delta_with_a_three_channel_vit_folder_is_a_user_error(tmp_path):
    from transformers import ViTConfig, ViTModel

    ViTModel(
        ViTConfig(
            image_size=32,
            patch_size=16,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
        ),
        add_pooling_layer=False,
    ).save_pretrained(tmp_path / "vit")
    with pytest.raises(UserError, match="input channels"):
        build_model(get_preset("tiny", visual_weights=str(tmp_path / "vit"), temporal_delta=True))


def test_frame_embeddings_cut_the_lower_face_from_extract_face_crops():
    """The extract registry hands whole face crops of any size; a crop='mouth' model embeds the same
    region it was trained on (so a face whose upper half changes gives the same embedding)."""
    from vocalens.avff.predict import frame_embeddings

    torch.manual_seed(0)
    cfg = get_preset("tiny", crop="mouth", temporal_delta=True, visual_pool="mean")
    model = build_model(cfg).eval()
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (5, 96, 96, 3), dtype=np.uint8)
    other = faces.copy()
    other[:, :40] = 0  # above the lower-face region (it starts at 0.49 * 96 = 47)
    a, b = frame_embeddings(model, faces), frame_embeddings(model, other)
    assert a.shape == (5, cfg.dim)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_cli_flags_override_the_preset():
    import argparse

    from vocalens.commands import avff

    p = argparse.ArgumentParser()
    avff.add_arguments(p)
    base = ["pretrain", "--data_root", "d", "--output_dir", "o"]
    cfg = avff.run_config(p.parse_args(base)).model
    assert (cfg.crop, cfg.temporal_delta, cfg.visual_pool, cfg.contrastive, cfg.head) == (
        "mouth",
        True,
        "mean",
        "slice",
        "slices",
    )
    cfg = avff.run_config(
        p.parse_args(
            base
            + [
                "--crop",
                "face",
                "--no-temporal_delta",
                "--visual_pool",
                "cls",
                "--contrastive",
                "clip",
                "--head",
                "mean",
                "--patch_size",
                "8",
                "--no-highpass",
                "--no-stream_heads",
            ]
        )
    ).model
    assert (
        cfg.crop,
        cfg.temporal_delta,
        cfg.visual_pool,
        cfg.contrastive,
        cfg.head,
        cfg.patch_size,
        cfg.highpass,
        cfg.stream_heads,
    ) == ("face", False, "cls", "clip", "mean", 8, False, False)
    args = p.parse_args(["train", "--data_root", "d", "--output_dir", "o", "--label_fraction", "0.25"])
    assert avff._spec(avff.run_config(args), [], []).label_fraction == 0.25


def test_laplacian_magnitude_is_zero_on_flat_and_linear_images_and_sees_detail():
    """|Laplacian| per channel: 0 on a flat or linearly shaded image (replicate padding: borders too), and
    a blurred copy of a detailed image has less of it (the softened-mouth cue)."""

    flat = torch.full((2, 3, 16, 16), 0.7)
    ramp = torch.linspace(-1, 1, 16).view(1, 1, 1, 16).expand(2, 3, 16, 16)
    assert laplacian_magnitude(flat).abs().max() < 1e-6
    assert laplacian_magnitude(ramp)[..., 1:-1].abs().max() < 1e-5
    torch.manual_seed(0)
    sharp = torch.randn(1, 3, 16, 16)
    blurred = F.avg_pool2d(F.pad(sharp, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    assert laplacian_magnitude(blurred).mean() < 0.5 * laplacian_magnitude(sharp).mean()
    point = torch.zeros(1, 1, 5, 5)
    point[0, 0, 2, 2] = 1.0
    expected = torch.zeros(5, 5)
    expected[2, 2] = 4.0
    expected[1, 2] = expected[3, 2] = expected[2, 1] = expected[2, 3] = 1.0
    torch.testing.assert_close(laplacian_magnitude(point)[0, 0], expected)


def test_highpass_adds_three_vit_channels_after_rgb_and_delta():
    torch.manual_seed(0)
    cfg = get_preset("tiny", temporal_delta=True, highpass=True)
    model = build_model(cfg).eval()
    assert cfg.visual_channels == model.visual.backbone.config.num_channels == 9
    seen = {}
    model.visual.backbone.embeddings.register_forward_hook(lambda m, i, o: seen.setdefault("x", i[0]))
    frames = torch.randn(1, cfg.num_frames, 3, cfg.image_size, cfg.image_size)
    with torch.no_grad():
        model.visual(frames)

    x = seen["x"]
    torch.testing.assert_close(x[:, :3], frames.flatten(0, 1))
    torch.testing.assert_close(x[:, 6:], laplacian_magnitude(frames.flatten(0, 1)))
    assert get_preset("tiny", highpass=True).visual_channels == 6


def test_stream_heads_add_a_linear_logit_per_stream_to_the_joint_one():
    """logit = joint classifier + visual head(mean, max of visual slice tokens) + audio head(same for audio);
    each stream head is a plain linear readout, trained in stage 2 even with frozen encoders."""
    torch.manual_seed(0)
    cfg = get_preset("tiny", head="slices", stream_heads=True, audio_encoder="mel")
    model = build_model(cfg).eval()
    frames = torch.randn(3, cfg.num_frames, 3, cfg.image_size, cfg.image_size)
    wave = torch.randn(3, cfg.clip_samples)
    with torch.no_grad():
        v, a = model.slice_tokens(frames, wave)
        joint = model.classifier(model.embed(frames, wave)).squeeze(-1)
        vh, ah = model.stream_heads
        expected = (
            joint
            + vh(torch.cat([v.mean(1), v.amax(1)], -1)).squeeze(-1)
            + ah(torch.cat([a.mean(1), a.amax(1)], -1)).squeeze(-1)
        )
        torch.testing.assert_close(model(frames, wave), expected)
        vh.weight.zero_(), vh.bias.zero_(), ah.weight.zero_(), ah.bias.zero_()
        torch.testing.assert_close(model(frames, wave), joint)
    model.set_stage("classify", freeze_encoders=True)
    assert all(p.requires_grad for p in model.stream_heads.parameters())
    assert build_model(get_preset("tiny")).stream_heads is None


def test_stage_two_head_flags_apply_over_a_stage_one_checkpoint(tmp_path):
    """`avff train --pretrained` keeps the stage-1 architecture but takes the stage-2 head flags, and
    starts the (never trained, possibly re-shaped) heads fresh while the encoders load."""
    import argparse

    from vocalens.avff.model import backbone_configs
    from vocalens.avff.tasks import ClassifyTask, DataSpec
    from vocalens.commands import avff

    torch.manual_seed(0)
    cfg = get_preset("tiny")  # head 'mean', no stream heads
    ssl = build_model(cfg)
    ckpt = tmp_path / "ssl.pth"
    torch.save(
        {
            "model": ssl.state_dict(),
            "task": {"stage": "pretrain", "avff_config": cfg.to_dict(), "backbones": backbone_configs(ssl)},
        },
        ckpt,
    )
    p = argparse.ArgumentParser()
    avff.add_arguments(p)
    args = p.parse_args(
        [
            "train",
            "--data_root",
            "d",
            "--output_dir",
            "o",
            "--pretrained",
            str(ckpt),
            "--head",
            "slices",
            "--stream_heads",
            "--crop",
            "mouth",
        ]
    )
    new = avff.run_config(args).model
    assert (new.head, new.stream_heads) == ("slices", True)
    assert new.crop == cfg.crop  # not a head flag: the checkpoint's architecture wins
    assert avff.run_config(args).options.lr_scale == 0.1  # from stage 1: encoders fine-tune at a tenth of the lr
    scratch = p.parse_args(["train", "--data_root", "d", "--output_dir", "o"])
    assert avff.run_config(scratch).options.lr_scale == 1.0
    assert (
        avff.run_config(
            p.parse_args(["train", "--data_root", "d", "--output_dir", "o", "--encoder_lr_scale", "0.5"])
        ).options.lr_scale
        == 0.5
    )
    model = ClassifyTask(new, DataSpec([], [], None), pretrained=str(ckpt)).build_model()
    w = "visual.backbone.embeddings.patch_embeddings.projection.weight"
    torch.testing.assert_close(model.state_dict()[w], ssl.state_dict()[w])
    assert model.classifier[0].normalized_shape[0] == 2 * (3 * cfg.dim + 1) != ssl.classifier[0].normalized_shape[0]


def test_encoder_lr_scale_gives_fine_tuned_encoders_a_smaller_lr():
    from vocalens.avff.tasks import ClassifyTask, DataSpec
    from vocalens.train.loop import FitConfig, build_optimizer

    cfg = get_preset("tiny", head="slices", stream_heads=True)
    task = ClassifyTask(cfg, DataSpec([], [], None), encoder_lr_scale=0.1)
    model = task.build_model()
    opt = build_optimizer(task, model, FitConfig(output_dir="unused", lr=1e-3, weight_decay=0.05))
    lr_of = {id(p): (g["lr"], g["weight_decay"]) for g in opt.param_groups for p in g["params"]}
    head = model.stream_heads[0]
    assert lr_of[id(head.weight)] == (1e-3, 0.05) and lr_of[id(head.bias)] == (1e-3, 0.0)
    assert lr_of[id(model.visual.proj.weight)] == (pytest.approx(1e-4), 0.05)
    assert lr_of[id(model.a2v.pos)][0] == pytest.approx(1e-4)
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert set(lr_of) == trainable and len(lr_of) == sum(len(g["params"]) for g in opt.param_groups)
    assert id(model.visual_decoder.inp.weight) not in lr_of  # stage-1 decoders are not trained in stage 2


def test_resuming_a_run_whose_optimizer_groups_differ_is_a_one_line_user_error(tmp_path):
    """A stage-2 run written before the encoder/head groups (2 AdamW groups) cannot resume into 4."""
    from vocalens.avff.tasks import ClassifyTask, DataSpec
    from vocalens.train import loop
    from vocalens.train.loop import FitConfig, Task, build_optimizer

    cfg = get_preset("tiny")
    task = ClassifyTask(cfg, DataSpec([], [], None))
    model = task.build_model()
    old = torch.optim.AdamW(Task.param_groups(task, model, 0.01), lr=1e-3)  # the loop's default grouping
    ckpt = tmp_path / "last.pth"
    torch.save({"model": model.state_dict(), "optimizer": old.state_dict(), "scheduler": {}, "epoch": 1}, ckpt)
    assert len(build_optimizer(task, model, FitConfig(output_dir=str(tmp_path))).param_groups) == 4
    with pytest.raises(UserError, match="optimizer state has 2 parameter groups, this run has 4"):
        loop._fit(
            _OneBatch(task),
            FitConfig(output_dir=str(tmp_path / "run"), epochs=2, resume=str(ckpt)),
            torch.device("cpu"),
            distributed=False,
        )


class _OneBatch:
    """A ClassifyTask with one in-memory training clip, so the loop reaches its resume step."""

    def __init__(self, task):
        self.task = task

    def __getattr__(self, name):
        return getattr(self.task, name)

    def train_dataset(self):
        cfg = self.task.cfg
        return [
            {
                "frames": torch.zeros(cfg.num_frames, 3, cfg.image_size, cfg.image_size),
                "wave": torch.zeros(cfg.clip_samples),
                "label": torch.tensor(0.0),
                "index": torch.tensor(0),
            }
        ]

    def val_dataset(self):
        return None
