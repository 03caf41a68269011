"""The origin's encoders (hubert, arcface) with tiny random models saved at test time; nothing downloaded."""

import json
import warnings

import numpy as np
import pytest
import torch

from vocalens.encoders import build_audio_encoder, build_visual_encoder
from vocalens.errors import UserError


def _tiny_hubert(folder, **kw):
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(0)
    cfg = HubertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        **kw,
    )
    model = HubertModel(cfg).eval()
    model.save_pretrained(folder)
    return model


def test_hubert_last_layer_matches_direct_forward_at_50hz(tmp_path):
    model = _tiny_hubert(tmp_path / "hubert")  # group-norm conv features, like hubert-base: raw waveform
    enc = build_audio_encoder("hubert", weights=tmp_path / "hubert")
    assert enc.rate == 50.0 and enc.dim == 32 and enc.normalize is False and enc.layer == -1
    wave = np.random.default_rng(0).normal(size=16000).astype(np.float32) * 0.1 + 0.05
    out = enc.encode(wave)
    assert out.shape == (49, 32) and out.dtype == np.float32
    with torch.no_grad():
        ref = model(torch.from_numpy(wave)[None]).last_hidden_state[0].numpy()
    assert np.allclose(out, ref, atol=1e-4)
    again = build_audio_encoder(**enc.config())
    assert again.config() == enc.config()
    # chunked (as wav2vec2 is): the frames of one pass, on the same 320-sample grid; each chunk's own
    # attention context changes the values, most near its edges, but the frames line up in time
    chunked = build_audio_encoder("hubert", weights=tmp_path / "hubert", chunk_seconds=0.5).encode(wave)
    assert chunked.shape == out.shape
    with torch.no_grad():  # frame 25 is the second chunk's first: the model run on the wave from sample 8000
        second = model(torch.from_numpy(wave[8000:])[None]).last_hidden_state[0].numpy()
    assert np.allclose(chunked[25:], second, atol=1e-4)


def test_hubert_layer_choice_and_trained_normalisation(tmp_path):
    model = _tiny_hubert(tmp_path / "large", feat_extract_norm="layer", do_stable_layer_norm=True)  # like large
    wave = np.random.default_rng(1).normal(size=8000).astype(np.float32) * 0.3 + 0.2
    x = torch.from_numpy((wave - wave.mean()) / np.sqrt(wave.var() + 1e-7))
    with torch.no_grad():
        ref = model(x[None], output_hidden_states=True)
    last = build_audio_encoder("hubert", weights=tmp_path / "large")
    assert last.normalize is True  # layer-norm conv features = trained on normalised audio
    assert np.allclose(last.encode(wave), ref.last_hidden_state[0].numpy(), atol=1e-4)
    assert build_audio_encoder("hubert", weights=tmp_path / "large", layer=2).config()["layer"] == -1  # 2 = the last
    first = build_audio_encoder("hubert", weights=tmp_path / "large", layer=1)
    assert first.config()["layer"] == 1
    assert np.allclose(first.encode(wave), ref.hidden_states[1][0].numpy(), atol=1e-4)
    assert not np.allclose(first.encode(wave), ref.last_hidden_state[0].numpy(), atol=1e-2)
    # the folder's feature-extractor config wins over the heuristic
    (tmp_path / "large" / "preprocessor_config.json").write_text(json.dumps({"do_normalize": False}))
    assert build_audio_encoder("hubert", weights=tmp_path / "large").normalize is False
    with pytest.raises(UserError, match="layer must be -1"):
        build_audio_encoder("hubert", weights=tmp_path / "large", layer=3)


def test_hubert_missing_folder_is_one_line_error(tmp_path):
    with pytest.raises(UserError) as e:
        build_audio_encoder("hubert", weights=tmp_path / "nope")
    assert "\n" not in str(e.value) and str(tmp_path / "nope") in str(e.value) and "--audio_weights" in str(e.value)


class _TinyFaceNet(torch.nn.Module):
    """conv -> pool -> 512-d, like an ArcFace head; input [N, 3, 112, 112]."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, 5, stride=4)
        self.fc = torch.nn.Linear(8 * 3 * 3, 512)

    def forward(self, x):
        h = torch.nn.functional.avg_pool2d(torch.relu(self.conv(x)), 9)  # 27 x 27 -> 3 x 3
        return self.fc(h.flatten(1))


def _export(net, path, batch=None):
    pytest.importorskip("onnx")  # torch.onnx.export serialises through it
    import inspect

    x = torch.zeros(batch or 1, 3, 112, 112)
    # the TorchScript exporter: no onnxscript needed (the default exporter from torch 2.9 on needs it)
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net.eval(),
            (x,),
            str(path),
            **legacy,
            input_names=["input.1"],
            output_names=["embedding"],
            dynamic_axes=None if batch else {"input.1": {0: "N"}, "embedding": {0: "N"}},
        )
    return path


@pytest.fixture(scope="module")
def arcface_file(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    net = _TinyFaceNet()
    return net, _export(net, tmp_path_factory.mktemp("arcface") / "tiny_arcface.onnx")


def _reference(net, images_rgb):
    x = (torch.from_numpy(images_rgb).permute(0, 3, 1, 2).float() - 127.5) / 127.5
    with torch.no_grad():
        e = net(x)
    return torch.nn.functional.normalize(e, dim=1).numpy()


def test_arcface_face_crop_matches_torch_and_is_unit_norm(arcface_file):
    net, path = arcface_file
    enc = build_visual_encoder("arcface", weights=path, crop="face", batch_size=3)
    assert enc.dim == 512 and enc.input_size == (112, 112)
    faces = np.random.default_rng(0).integers(0, 256, (7, 112, 112, 3), dtype=np.uint8)
    out = enc.encode(faces)
    assert out.shape == (7, 512) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
    assert np.allclose(out, _reference(net, faces), atol=1e-4)
    # BGR models get the channels swapped; other crop sizes are resized to the model's input
    bgr = build_visual_encoder("arcface", weights=path, crop="face", channels="bgr").encode(faces)
    assert np.allclose(bgr, _reference(net, faces[..., ::-1].copy()), atol=1e-4)
    assert enc.encode(np.zeros((2, 224, 224, 3), np.uint8)).shape == (2, 512)
    assert enc.encode(np.zeros((0, 224, 224, 3), np.uint8)).shape == (0, 512)
    cfg = enc.config()
    assert cfg["weights_digest"] and build_visual_encoder(**cfg).config() == cfg


def test_arcface_lower_crop_sees_only_the_lower_face(arcface_file):
    _, path = arcface_file
    enc = build_visual_encoder("arcface", weights=path, crop="lower")
    rng = np.random.default_rng(2)
    faces = rng.integers(0, 256, (3, 224, 224, 3), dtype=np.uint8)
    forehead = faces.copy()
    forehead[:, :100] = 0  # rows above the lower-face box (it starts at 0.50 of the crop)
    assert np.allclose(enc.encode(faces), enc.encode(forehead), atol=1e-6)
    chin = faces.copy()
    chin[:, 120:180, 70:150] = 0
    assert not np.allclose(enc.encode(faces), enc.encode(chin), atol=1e-3)


def test_arcface_fixed_batch_graph_and_aligned_crops(arcface_file, tmp_path):
    net, _ = arcface_file
    fixed = _export(net, tmp_path / "fixed.onnx", batch=4)
    enc = build_visual_encoder("arcface", weights=fixed, crop="face", batch_size=64)
    assert enc.batch_size == 4  # the graph's own batch size; the last call is padded
    faces = np.random.default_rng(3).integers(0, 256, (6, 112, 112, 3), dtype=np.uint8)
    assert np.allclose(enc.encode(faces), _reference(net, faces), atol=1e-4)
    from vocalens.media.landmarks import mediapipe_mesh_available

    if not mediapipe_mesh_available():
        with pytest.raises(UserError, match="crop=lower"):
            build_visual_encoder("arcface", weights=fixed)
        return
    aligned = build_visual_encoder("arcface", weights=fixed)  # default crop: aligned lower face
    crops = aligned.model_inputs(np.zeros((5, 224, 224, 3), np.uint8))  # no face: the box's lower half
    assert crops.shape == (5, 112, 112, 3)
    assert aligned.encode(np.zeros((5, 224, 224, 3), np.uint8)).shape == (5, 512)


def test_arcface_bad_files_are_one_line_errors(tmp_path):
    pytest.importorskip("onnxruntime")
    with pytest.raises(UserError) as e:
        build_visual_encoder("arcface", weights=tmp_path / "nope.onnx", crop="face")
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / "nope.onnx") in msg and "--visual_weights" in msg
    with pytest.raises(UserError, match="--visual_weights"):
        build_visual_encoder("arcface", crop="face")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(UserError) as e:
        build_visual_encoder("arcface", weights=junk, crop="face")
    assert "\n" not in str(e.value) and str(junk) in str(e.value)
    with pytest.raises(UserError, match="crop must be"):
        build_visual_encoder("arcface", weights=junk, crop="eyes")


def test_missing_extra_names_it_in_one_line(monkeypatch, tmp_path):
    import sys

    from vocalens.commands.extract import parse_options
    from vocalens.extras import missing_message

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if `vocalens[onnx]` were not installed
    with pytest.raises(UserError) as e:
        build_visual_encoder("arcface", weights=tmp_path / "x.onnx")
    assert "pip install 'vocalens[onnx]'" in str(e.value) and "\n" not in str(e.value)
    monkeypatch.setitem(sys.modules, "transformers", None)
    for kind, build in (("audio", build_audio_encoder), ("visual", build_visual_encoder)):
        with pytest.raises(UserError, match=r"pip install 'vocalens\[hf\]'"):
            build("hubert" if kind == "audio" else "vit", weights=tmp_path)
    assert "vocalens[hf]" in missing_message(ModuleNotFoundError("no", name="transformers.models"), "avff")
    assert missing_message(ModuleNotFoundError("no", name="numpy"), "x") is None
    assert parse_options(["layer=12", "crop=lower", "mean=0"], "--x") == {"layer": 12, "crop": "lower", "mean": 0}
    with pytest.raises(UserError, match="KEY=VALUE"):
        parse_options(["layer"], "--audio_option")


def test_arcface_rebuilds_from_recorded_config_and_refuses_other_weights(arcface_file, tmp_path):
    import shutil

    from vocalens.localizer.detect import load_encoders

    net, path = arcface_file
    enc = build_visual_encoder("arcface", weights=path, crop="lower")
    config = {"visual_encoder": enc.config(), "audio_encoder": {"name": "default"}, "visual_dim": 512}
    moved = shutil.copy(path, tmp_path / "moved.onnx")  # same file elsewhere: relocated, same digest
    again = load_encoders(config, visual_weights=str(moved)).visual
    faces = np.random.default_rng(4).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    assert np.allclose(again.encode(faces), enc.encode(faces))
    import copy

    changed = copy.deepcopy(net)
    torch.nn.init.zeros_(changed.fc.bias)  # other weights: features would not be comparable
    other = _export(changed, tmp_path / "other.onnx")
    with pytest.raises(UserError, match="digest"):
        load_encoders(config, visual_weights=str(other))


def test_cli_names_the_extra_for_a_missing_optional_module(monkeypatch, capsys):
    import sys
    import types

    from vocalens import cli

    fake = types.ModuleType("vocalens_fake_cmd")
    fake.add_arguments = lambda p: None

    def run(args):
        import transformers  # noqa: F401 - blocked below, as in an install without [hf]

    fake.run = run
    monkeypatch.setitem(sys.modules, "vocalens_fake_cmd", fake)
    monkeypatch.setitem(sys.modules, "transformers", None)
    monkeypatch.setitem(cli.COMMANDS, "fake", ("vocalens_fake_cmd", "test"))
    assert cli.main(["fake"]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == "vocalens fake: error: vocalens fake needs transformers, which is not installed: pip install 'vocalens[hf]'"
    )
