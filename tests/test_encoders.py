import numpy as np
import pytest
import torch

from vocalens.encoders import (
    available_encoders,
    build_audio_encoder,
    build_visual_encoder,
    register_audio,
    register_visual,
)
from vocalens.encoders.default_visual import dct_matrix, mouth_crops, zigzag_indices
from vocalens.errors import UserError


def test_dct_matrix_is_orthonormal_and_matches_scipy():
    from scipy.fft import dctn

    d = dct_matrix(8)
    assert torch.allclose(d @ d.T, torch.eye(8), atol=1e-5)
    x = np.random.default_rng(0).normal(size=(8, 8)).astype(np.float32)
    ours = (d @ torch.from_numpy(x) @ d.T).numpy()
    assert np.allclose(ours, dctn(x, norm="ortho"), atol=1e-4)


def test_zigzag_starts_at_dc_and_orders_by_frequency():
    idx = zigzag_indices(4, 6).tolist()
    # (u, v) flat index u*4+v: (0,0) (0,1) (1,0) (0,2) (1,1) (2,0)
    assert idx == [0, 1, 4, 2, 5, 8]


def test_mouth_box_is_the_face_modules_rule():
    from vocalens.encoders.default_visual import MOUTH_BOX
    from vocalens.media.faces import mouth_box

    x0, y0, x1, y1 = mouth_box(1000, 0.25)
    assert MOUTH_BOX == pytest.approx((y0 / 1000, y1 / 1000, x0 / 1000, x1 / 1000), abs=1e-3)


def test_mouth_crop_takes_lower_middle_region():
    faces = np.zeros((1, 100, 100, 3), np.uint8)
    faces[:, 55:85, 30:70] = 255  # a bright "mouth" covering the default box (0.593-0.807, 0.333-0.667)
    crop = mouth_crops(torch.from_numpy(faces), size=8)[0].numpy()
    assert crop.min() == pytest.approx(1.0)
    chin = np.zeros_like(faces)
    chin[:, 85:] = 255  # below the box
    assert mouth_crops(torch.from_numpy(chin), size=8).max() == 0
    faces2 = np.zeros_like(faces)
    faces2[:, 5:40] = 255  # forehead: outside the box
    assert mouth_crops(torch.from_numpy(faces2), size=8).max() == 0


def test_default_visual_shape_delta_and_identity_invariance():
    enc = build_visual_encoder("default")
    assert enc.dim == 512 and enc.config()["name"] == "default"
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (20, 64, 64, 3), dtype=np.uint8)
    out = enc.encode(faces)
    assert out.shape == (20, 512) and out.dtype == np.float32
    static, delta = out[:, :256], out[:, 256:]
    assert np.allclose(delta[0], 0) and np.allclose(delta[1:], np.diff(static, axis=0), atol=1e-5)
    # per-video z-scoring: each static coefficient has zero mean and unit variance over time
    assert np.allclose(static.mean(0), 0, atol=1e-4) and np.allclose(static.std(0), 1, atol=1e-3)
    # brightness/contrast changes (lighting) do not change the features
    brighter = np.clip(faces.astype(np.float32) * 0.5 + 40, 0, 255).astype(np.uint8)
    assert np.abs(enc.encode(brighter) - out).mean() < 0.05
    # chunked encoding equals one pass
    assert np.allclose(build_visual_encoder("default", chunk=7).encode(faces), out, atol=1e-4)


def test_default_visual_static_part_is_per_frame():
    """Without video normalisation a frame's static features depend on that frame alone."""
    enc = build_visual_encoder("default", normalize="none")
    rng = np.random.default_rng(1)
    faces = rng.integers(0, 256, (12, 80, 64, 3), dtype=np.uint8)
    full = enc.encode(faces)[:, :256]
    assert np.allclose(enc.encode(faces[3:5])[:, :256], full[3:5], atol=1e-4)
    # face-relative normalisation: a uniformly darker mouth (open) lowers the DC coefficient
    dark = faces.copy()
    dark[:, 50:62, 24:40] //= 3  # inside the mouth box of an 80x64 crop
    assert (enc.encode(dark)[:, 0] < full[:, 0]).all()
    crops = mouth_crops(torch.from_numpy(faces), normalize=True)
    assert crops.shape == (12, 32, 32)


def test_default_visual_rebuilds_from_config():
    enc = build_visual_encoder("default", n_coeffs=64, size=16)
    again = build_visual_encoder(**enc.config())
    assert again.config() == enc.config() and again.dim == 128


def test_default_audio_rate_dim_and_onset_frame():
    enc = build_audio_encoder("default")
    assert enc.dim == 1024 and enc.rate == 25.0
    wave = np.zeros(3 * 16000, np.float32)
    wave[int(1.2 * 16000) : int(1.6 * 16000)] = 0.5 * np.sin(np.arange(6400) * 2 * np.pi * 440 / 16000)
    out = enc.encode(wave)
    assert out.shape == (75, 1024)
    hops = out[:, :512].reshape(300, 128).mean(1)  # 10 ms hops in time order
    quiet = hops.min()  # silence normalises to one constant value
    loud = np.flatnonzero(hops > quiet + 0.5)
    # the tone covers [1.2, 1.6) s = hops 120..159; a 25 ms window centred on hop 119 (1.195 s)
    # or 160 (1.605 s) reaches 7.5 ms into it, one further does not
    assert 119 <= loud.min() <= 120 and 159 <= loud.max() <= 160 and len(loud) >= 40
    assert (hops.reshape(75, 4).min(1)[30:40] > quiet + 0.5).all()  # frames 30..39 loud throughout
    assert (hops.reshape(75, 4).max(1)[:29] < quiet + 1e-3).all() and (
        hops.reshape(75, 4).max(1)[41:] < quiet + 1e-3
    ).all()
    # a length that is not a multiple of 640 samples still counts every started frame
    assert enc.encode(wave[:1000]).shape == (2, 1024)
    assert enc.encode(np.zeros(0, np.float32)).shape == (0, 1024)


def test_default_audio_without_deltas_and_rebuild():
    enc = build_audio_encoder("default", n_mels=64, deltas=False, stack=2)
    assert enc.dim == 128 and enc.rate == 50.0
    again = build_audio_encoder(**enc.config())
    assert again.config() == enc.config()
    assert again.encode(np.random.default_rng(0).normal(size=16000).astype(np.float32)).shape == (50, 128)


def test_registry_decorators_and_unknown_names():
    @register_visual("unit-test-visual")
    class Const:
        name, dim = "unit-test-visual", 3

        def __init__(self, weights=None, device="cpu", value=1.0):
            self.value = value

        def config(self):
            return {"name": self.name, "value": self.value}

        def encode(self, faces):
            return np.full((len(faces), 3), self.value, np.float32)

    register_audio("unit-test-audio")(Const)
    assert "unit-test-visual" in available_encoders()["visual"]
    assert "unit-test-audio" in available_encoders()["audio"]
    assert build_visual_encoder("unit-test-visual", value=2.0).encode(np.zeros((4, 8, 8, 3))).max() == 2.0
    with pytest.raises(UserError, match="unknown visual encoder 'nope'"):
        build_visual_encoder("nope")


def _tiny_vit(folder):
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(0)
    cfg = ViTConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37, image_size=32, patch_size=8
    )
    model = ViTModel(cfg, add_pooling_layer=False).eval()
    model.save_pretrained(folder)
    return model


def _tiny_wav2vec2(folder):
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    cfg = Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    model = Wav2Vec2Model(cfg).eval()
    model.save_pretrained(folder)
    return model


def test_vit_loads_from_saved_folder_and_matches_direct_forward(tmp_path):
    model = _tiny_vit(tmp_path / "vit")
    enc = build_visual_encoder("vit", weights=tmp_path / "vit", batch_size=3)
    assert enc.dim == 32 and enc.config()["weights"] == str(tmp_path / "vit")
    faces = np.random.default_rng(0).integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    out = enc.encode(faces)
    assert out.shape == (7, 32)
    x = torch.from_numpy(faces).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(
        1, 3, 1, 1
    )
    with torch.no_grad():
        ref = model(pixel_values=x).last_hidden_state[:, 0].numpy()
    assert np.allclose(out, ref, atol=1e-4)
    # other input sizes are resized to the model's; mean pooling differs from CLS
    assert enc.encode(np.zeros((2, 64, 48, 3), np.uint8)).shape == (2, 32)
    mean = build_visual_encoder("vit", weights=tmp_path / "vit", pool="mean").encode(faces)
    assert not np.allclose(mean, out)
    assert build_visual_encoder(**enc.config()).config() == enc.config()


def test_wav2vec2_loads_from_saved_folder_at_50hz(tmp_path):
    model = _tiny_wav2vec2(tmp_path / "w2v")
    enc = build_audio_encoder("wav2vec2", weights=tmp_path / "w2v")
    assert enc.rate == 50.0 and enc.dim == 32
    wave = np.random.default_rng(0).normal(size=16000).astype(np.float32)
    out = enc.encode(wave)
    assert out.shape == (49, 32)  # conv receptive field 400, stride 320
    x = torch.from_numpy((wave - wave.mean()) / np.sqrt(wave.var() + 1e-7))
    with torch.no_grad():
        ref = model(x[None]).last_hidden_state[0].numpy()
    assert np.allclose(out, ref, atol=1e-4)
    # chunked: same number of frames per chunk grid, still [Ta, 32]
    assert build_audio_encoder("wav2vec2", weights=tmp_path / "w2v", chunk_seconds=0.5).encode(wave).shape[1] == 32


def test_missing_weights_are_one_line_errors(tmp_path):
    with pytest.raises(UserError) as e:
        build_visual_encoder("vit", weights=tmp_path / "nope")
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / "nope") in msg and "--visual_weights" in msg
    with pytest.raises(UserError, match="--audio_weights"):
        build_audio_encoder("wav2vec2", weights=None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="config.json"):
        build_audio_encoder("wav2vec2", weights=tmp_path / "empty")
