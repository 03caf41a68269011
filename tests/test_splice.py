"""vocalens splice: the evaluation-only second recipe; its periods match what it changed."""

import json
import os

import numpy as np
import pytest

from vocalens.cli import main
from vocalens.data.labels import frame_labels
from vocalens.data.metadata import LAVDF_MIN_KEYS as MIN_KEYS
from vocalens.data.metadata import read_lavdf
from vocalens.datagen import splice
from vocalens.media.video import load_video, write_video

F0S = {"low.mp4": 110.0, "mid.mp4": 150.0, "high.mp4": 235.0}
KNOBS = {"crf": 18, "max_side": 160}
MARGIN = 3  # AAC spreads a change by up to ~1.6 video frames past a period edge


def _voice(f0: float, seconds: float, sr: int = 16000) -> np.ndarray:
    """A harmonic 'voice' at ``f0`` with 4 Hz syllables: speech-like level and an unambiguous pitch."""
    t = np.arange(int(seconds * sr)) / sr
    x = sum(np.sin(2 * np.pi * k * f0 * t + k) / k for k in range(1, 6))
    env = 0.25 + 0.75 * np.clip(np.sin(2 * np.pi * 4 * t), 0, None)
    return (0.15 * x * env).astype(np.float32)


def _write_sources(d, seconds=3.0):
    rng = np.random.default_rng(0)
    for name, f0 in F0S.items():
        base = rng.integers(0, 255, (1, 64, 64, 3)).astype(np.float32)
        frames = np.clip(base + np.linspace(0, 60, int(seconds * 25))[:, None, None, None], 0, 255).astype(np.uint8)
        write_video(d / name, frames, 25, _voice(f0, seconds), crf=18)
    (d / "broken.mp4").write_bytes(os.urandom(3000))


def _diffs(out, e):
    """Per-frame audio RMS change, per-frame fraction of strongly changed pixels, and the frame labels."""
    fake, real = load_video(out / e["file"]), load_video(out / e["original"])
    n = fake.num_frames
    assert n == real.num_frames == e["video_frames"]
    ad = (fake.audio - real.audio)[: n * 640].reshape(n, 640)
    audio = np.sqrt((ad**2).mean(axis=1))
    pix = (np.abs(fake.frames.astype(np.int16) - real.frames.astype(np.int16)).max(-1) > 25).mean(axis=(1, 2))
    lab = frame_labels(e["fake_periods"], n).astype(bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], lab.astype(int), [0]])))
    near = np.zeros(n, bool)
    for b in edges:
        near[max(0, b - MARGIN) : b + MARGIN] = True
    level = np.sqrt(np.mean(real.audio**2))
    return audio, pix, lab, near, level


def _check_audio_changed(out, e):
    audio, pix, lab, near, level = _diffs(out, e)
    assert np.median(audio[lab]) > 0.25 * level, e["file"]  # the periods changed ...
    assert audio[~lab & ~near].max(initial=0) < 0.1 * level, e["file"]  # ... and nothing else, up to codec noise
    return pix, lab


def _check_video_changed(out, e):
    _, pix, lab, _, _ = _diffs(out, e)
    assert pix[lab].min() > 0.01, e["file"]  # every labelled frame has a pasted lower face ...
    assert pix[~lab].max(initial=0) < 0.004, e["file"]  # ... and no other frame does
    np.testing.assert_array_equal(pix > 0.005, lab)


@pytest.fixture(scope="module")
def audio_run(tmp_path_factory):
    src = tmp_path_factory.mktemp("voices")
    _write_sources(src)
    out = tmp_path_factory.mktemp("spliced_audio")
    s = splice.splice_dataset(
        src, out, seed=1, progress=False, log=lambda *_: None, fakes_per_video=3, types=splice.AUDIO_TYPES, **KNOBS
    )
    return src, out, s, json.loads((out / "metadata.json").read_text())


@pytest.fixture(scope="module")
def visual_run(real_clips, tmp_path_factory):
    src = tmp_path_factory.mktemp("faces")
    for name in ("LipNet__bbaf2n.mpg", "LipNet__lbax4n.mpg", "video-retalking__2.mp4"):
        os.symlink(real_clips / name, src / name)
    out = tmp_path_factory.mktemp("spliced_visual")
    s = splice.splice_dataset(
        src,
        out,
        seed=2,
        progress=False,
        log=lambda *_: None,
        fakes_per_video=2,
        types=("mouth_swap", "both"),
        max_seconds=3.0,
        **KNOBS,
    )
    return src, out, s, json.loads((out / "metadata.json").read_text())


def test_median_f0_tells_voices_apart():
    for f0 in F0S.values():
        assert splice.median_f0(_voice(f0, 1.0)) == pytest.approx(f0, rel=0.04)
    assert splice.median_f0(np.zeros(16000, np.float32)) == 0.0


def test_metadata_layout_and_bad_source(audio_run):
    _, out, s, meta = audio_run
    assert s.sources == 4 and s.sources_used == 3 and len(s.skipped) == 1 and "broken.mp4" in s.skipped[0]
    recs = read_lavdf(out)
    assert len(recs) == len(meta) == 12 and {r.split for r in recs} == {"test"}
    assert set(json.loads((out / "metadata.min.json").read_text())[0]) == set(MIN_KEYS)
    for e in meta:
        assert e["recipe"] == "splice" and e["audio_frames"] == e["video_frames"] * 640
        grid = np.asarray(e["fake_periods"]).reshape(-1) * 25
        np.testing.assert_allclose(grid, np.round(grid), atol=1e-9)  # frame boundaries
        lens = np.diff(np.asarray(e["fake_periods"]).reshape(-1, 2), axis=1)
        assert ((lens >= 0.5 - 1e-9) & (lens <= 2.5 + 1e-9)).all() and e["n_fakes"] <= 2
        if e["original"]:
            assert [d["period_frames"] for d in e["manipulations"]] == grid.reshape(-1, 2).round().tolist()
            assert e["modify_audio"] and not e["modify_video"]


@pytest.mark.parametrize("kind", splice.AUDIO_TYPES)
def test_audio_periods_match_what_changed(audio_run, kind):
    _, out, _, meta = audio_run
    fakes = [e for e in meta if e["manipulation"] == kind]
    if kind == "tts" and splice.espeak_binary() is None:
        assert not fakes
        pytest.skip("espeak-ng not installed")
    assert len(fakes) == 3  # one per source: types rotate
    for e in fakes:
        pix, _ = _check_audio_changed(out, e)
        assert pix.max() < 0.004  # frames untouched
        for d in e["manipulations"]:
            assert d["audio"] == kind
            if kind == "stretch":
                assert 0.75 <= d["rate"] <= 0.85 or 1.2 <= d["rate"] <= 1.35
            if kind == "other_speaker":  # the donor with the farthest pitch
                far = {"low.mp4": "high.mp4", "mid.mp4": "high.mp4", "high.mp4": "low.mp4"}
                assert d["donor"] == far[e["source"]]
            if kind == "tts":
                assert d["voice"].endswith(
                    ("f1", "f2", "f3", "f4") if e["source"] != "high.mp4" else ("m1", "m2", "m3", "m4")
                )


@pytest.mark.parametrize("kind", ["mouth_swap", "both"])
def test_visual_periods_match_what_changed(visual_run, kind):
    _, out, _, meta = visual_run
    fakes = [e for e in meta if e["manipulation"] == kind]
    assert len(fakes) == 3
    for e in fakes:
        _check_video_changed(out, e)
        if kind == "both":
            _check_audio_changed(out, e)
        else:
            assert _diffs(out, e)[0].max() < 0.02  # audio untouched (codec noise only)
        for d in e["manipulations"]:
            assert d["visual"] == "mouth_swap" and d["donor_face"] != e["source"]  # another person's mouth
            assert d["edge"] in ("hard", "feather3px")
            assert (kind == "both") == ("audio" in d)


def test_rerun_skips_finished_videos(audio_run, capsys):
    src, out, _, meta = audio_run
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")}
    rc = main(
        [
            "splice",
            str(src),
            "--output_root",
            str(out),
            "--seed",
            "1",
            "--fakes_per_video",
            "3",
            "--types",
            *splice.AUDIO_TYPES,
            "--crf",
            "18",
            "--max_side",
            "160",
            "--no_progress",
        ]
    )
    assert rc == 0 and "12 videos from 3/4 sources" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")} == mtimes  # nothing re-encoded
    assert json.loads((out / "metadata.json").read_text()) == meta
    assert main(["splice", str(src), "--output_root", str(out), "--seed", "2", "--no_progress"]) == 2  # other run


def test_without_espeak_tts_is_skipped_with_one_warning(tmp_path, monkeypatch):
    src = tmp_path / "v"
    src.mkdir()
    _write_sources(src, seconds=1.6)
    monkeypatch.setattr(splice, "espeak_binary", lambda: None)
    lines = []
    s = splice.splice_dataset(
        src, tmp_path / "out", progress=False, log=lines.append, fakes_per_video=2, types=("tts", "stretch"), **KNOBS
    )
    assert [ln for ln in lines if ln.startswith("warning")] == [lines[0]] and "espeak-ng" in lines[0]
    assert s.counts == {"real": 3, "stretch": 6}


def test_unknown_type_is_a_user_error(tmp_path):
    assert main(["splice", str(tmp_path / "missing"), "--output_root", str(tmp_path / "o")]) == 2
    with pytest.raises(splice.UserError, match="unknown manipulation"):
        splice.splice_dataset(tmp_path, tmp_path / "o", types=("blur",))


def test_one_speaker_never_donates_to_itself(tmp_path):
    src = tmp_path / "v"
    src.mkdir()
    _write_sources(src, seconds=1.6)
    tsv = tmp_path / "speakers.tsv"
    tsv.write_text("name\tspeaker_id\nlow.mp4\tA\nhigh.mp4\tA\nmid.mp4\tB\n")
    splice.splice_dataset(
        src,
        tmp_path / "out",
        progress=False,
        log=lambda *_: None,
        fakes_per_video=1,
        types=("other_speaker",),
        speakers=str(tsv),
        **KNOBS,
    )
    meta = json.loads((tmp_path / "out" / "metadata.json").read_text())
    donor = {e["source"]: e["manipulations"][0]["donor"] for e in meta if e["original"]}
    assert donor == {
        "low.mp4": "mid.mp4",
        "high.mp4": "mid.mp4",
        "mid.mp4": "high.mp4",
    }  # not the farthest: same person


def test_chunks_of_one_clip_are_one_speaker(tmp_path):
    src = tmp_path / "v"
    src.mkdir()
    for name, f0 in {"a__c00.mp4": 110.0, "a__c01.mp4": 235.0, "b.mp4": 150.0}.items():
        write_video(src / name, np.full((40, 64, 64, 3), 90, np.uint8), 25, _voice(f0, 1.6), crf=18)
    splice.splice_dataset(
        src, tmp_path / "out", progress=False, log=lambda *_: None, fakes_per_video=1, types=("other_speaker",), **KNOBS
    )
    meta = json.loads((tmp_path / "out" / "metadata.json").read_text())
    donor = {e["source"]: e["manipulations"][0]["donor"] for e in meta if e["original"]}
    assert donor == {"a__c00.mp4": "b.mp4", "a__c01.mp4": "b.mp4", "b.mp4": "a__c01.mp4"}
