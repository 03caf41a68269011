"""vocalens forge: partial fakes from real videos with exact fake periods."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from vocalens.cli import main
from vocalens.data.labels import frame_labels
from vocalens.data.metadata import LAVDF_MIN_KEYS, read_lavdf
from vocalens.datagen import forge
from vocalens.errors import UserError
from vocalens.media.video import load_video, write_video

CLIPS = ["LipNet__bbaf2n.mpg", "LipNet__brbk7n.mpg", "LipNet__lbax4n.mpg", "LipNet__swiz3n.mpg"]
KNOBS = dict(fakes_per_video=3, max_side=240, crf=12, split_ratios=(0.5, 0.25, 0.25))


@pytest.fixture(scope="module")
def forged(real_clips, tmp_path_factory):
    src = tmp_path_factory.mktemp("videos")
    for name in CLIPS:
        os.symlink(real_clips / name, src / name)
    (src / "broken.mp4").write_bytes(os.urandom(4000))
    t = np.linspace(0, 1, 25)[:, None, None, None]
    write_video(src / "silent_film.mp4", (np.ones((25, 64, 64, 3)) * t * 255).astype(np.uint8), 25, None)
    out = tmp_path_factory.mktemp("forged")
    summary = forge.forge_dataset(src, out, seed=3, progress=False, log=lambda *_: None, **KNOBS)
    meta = json.loads((out / "metadata.json").read_text())
    return src, out, summary, meta


def test_metadata_schema_and_read_back(forged):
    _, out, summary, meta = forged
    recs = read_lavdf(out)  # validates periods, splits and files
    assert len(recs) == len(meta) == summary.videos == 16  # 4 sources x (1 real + 3 fakes)
    mini = json.loads((out / "metadata.min.json").read_text())
    assert set(mini[0]) == set(LAVDF_MIN_KEYS)
    by_file = {e["file"]: e for e in meta}
    for e in meta:
        assert e["audio_channels"] == 1 and e["audio_frames"] == e["video_frames"] * 640
        assert e["duration"] == pytest.approx(e["video_frames"] / 25)
        assert e["n_fakes"] == len(e["fake_periods"])
        frames_grid = np.asarray(e["fake_periods"]).reshape(-1) * 25
        np.testing.assert_allclose(frames_grid, np.round(frames_grid), atol=1e-9)  # on frame boundaries
        if e["original"] is None:
            assert not e["fake_periods"] and not e["modify_video"] and not e["modify_audio"]
        else:
            real = by_file[e["original"]]
            assert real["original"] is None and real["source"] == e["source"] and real["split"] == e["split"]
            assert e["modify_video"] or e["modify_audio"]
            assert [d["period_frames"] for d in e["manipulations"]] == (frames_grid.reshape(-1, 2).round()).tolist()
        v = load_video(out / e["file"], audio="required")
        assert v.num_frames == e["video_frames"] and max(v.frames.shape[1:3]) <= 240


def test_all_manipulations_occur(forged):
    meta = forged[3]
    kinds = {(e["modify_video"], e["modify_audio"]) for e in meta if e["original"]}
    assert kinds == {(True, False), (False, True), (True, True)}
    how = [d.get("audio") for e in meta if e["original"] for d in e["manipulations"]]
    assert "replace" in how and "shift" in how
    for e in meta:
        for d in e.get("manipulations") or []:
            if d.get("audio") == "shift":
                assert 0.2 <= abs(d["shift_s"]) <= 0.6
            if d.get("visual"):
                s, t = d["period_frames"]
                assert abs(d["source_offset_s"] * 25) >= max(t - s, 10)  # another moment of the video


def test_splits_never_share_a_source(forged):
    meta = forged[3]
    split_of = {}
    for e in meta:
        assert split_of.setdefault(e["source"], e["split"]) == e["split"]
        for d in e.get("manipulations") or []:
            if "donor" in d:  # donated speech stays inside the split too
                assert split_of.get(d["donor"], e["split"]) == e["split"] and d["donor"] != e["source"]
    assert len(set(split_of.values())) == 3


def test_broken_and_audioless_sources_are_skipped(forged):
    _, _, summary, meta = forged
    assert summary.sources == 6 and summary.sources_used == 4
    assert len(summary.skipped) == 2
    assert any("broken.mp4" in s for s in summary.skipped)
    assert any("silent_film.mp4" in s and "no audio" in s for s in summary.skipped)
    assert all("\n" not in s for s in summary.skipped)
    assert {e["source"] for e in meta} == set(CLIPS)


def _block_diff(a, b, k=8):
    d = np.abs(a.astype(np.int16) - b.astype(np.int16)).mean(-1)
    t, h, w = d.shape
    return d[:, : h // k * k, : w // k * k].reshape(t, h // k, k, w // k, k).mean((2, 4)).reshape(t, -1).max(1)


def _frame_rms(a, n):
    return np.sqrt((a[: n * 640].reshape(n, 640) ** 2).mean(1))


def test_fake_periods_match_what_changed(forged):
    """Decode each fake and its real copy: video differs only inside periods with modify_video,
    audio only inside periods with modify_audio (up to codec noise and the AAC/cross-fade edge)."""
    _, out, _, meta = forged
    reals = {}
    for e in (e for e in meta if e["original"]):
        if e["original"] not in reals:
            reals[e["original"]] = load_video(out / e["original"])
        real, fake = reals[e["original"]], load_video(out / e["file"])
        t_len = e["video_frames"]
        lab = frame_labels(e["fake_periods"], t_len).astype(bool)
        edge = np.convolve(lab, np.ones(5), "same") > 0  # within 2 frames of a period (AAC frames are 1024)
        vd = _block_diff(fake.frames, real.frames)
        if e["modify_video"]:
            # inside: the mouth moved (8x8-block mean change of 15-25 grey levels, measured at crf 12);
            # outside: codec noise only (x264 at crf 12: <= ~4.6, it is not bit-exact between encodes)
            assert vd[~lab].max() < 6.0
            assert np.median(vd[lab]) > 12 and (vd[lab] > 6.0).mean() > 0.9
        else:
            assert vd.max() < 6.0
        ad = _frame_rms(fake.audio - real.audio, t_len)
        level = forge.speech_level(real.audio)
        if e["modify_audio"]:
            assert ad[~edge].max() < 0.15 * level
            for s, t in (d["period_frames"] for d in e["manipulations"]):
                assert np.median(ad[s:t]) > 0.2 * level
        else:
            assert ad.max() < 0.02 * level  # same encoder input -> same AAC stream


def test_audio_and_video_stay_in_sync_outside_fakes(forged):
    _, out, _, meta = forged
    for e in (e for e in meta if e["modify_audio"]):
        real, fake = load_video(out / e["original"]), load_video(out / e["file"])
        lab = frame_labels(e["fake_periods"], e["video_frames"]).astype(bool)
        clean = np.repeat(~(np.convolve(lab, np.ones(5), "same") > 0), 640)
        a, b = fake.audio * clean, real.audio * clean
        lags = np.arange(-400, 401)
        xc = [np.dot(a[400:-400], np.roll(b, k)[400:-400]) for k in lags]
        assert lags[int(np.argmax(xc))] == 0
        assert fake.num_frames == real.num_frames and len(fake.audio) == len(real.audio)


def test_resume_skips_done_sources_and_refuses_other_settings(forged):
    src, out, _, meta = forged
    mtimes = {e["file"]: (out / e["file"]).stat().st_mtime_ns for e in meta}
    again = forge.forge_dataset(src, out, seed=3, progress=False, log=lambda *_: None, **KNOBS)
    assert again.videos == len(meta)
    assert {f: (out / f).stat().st_mtime_ns for f in mtimes} == mtimes  # nothing re-encoded
    assert json.loads((out / "metadata.json").read_text()) == meta
    with pytest.raises(UserError, match="other settings"):
        forge.forge_dataset(src, out, seed=4, progress=False, **KNOBS)


def test_one_source_is_deterministic(real_clips, tmp_path, monkeypatch):
    """Same seed, same decisions, the same pixels and samples handed to the encoder, and the same files
    (write_video's x264 settings make its output a function of its input: tests/test_reproducible.py)."""
    import hashlib

    import vocalens.datagen.parts as parts_module  # forge's videos are written there

    written = []
    real_write = parts_module.write_video

    def recording_write(path, frames, *args, **kw):
        audio = args[1] if len(args) > 1 else kw.get("audio")
        written.append(
            (
                Path(path).name,
                hashlib.sha1(np.ascontiguousarray(frames).tobytes()).hexdigest(),
                hashlib.sha1(np.asarray(audio).tobytes()).hexdigest(),
            )
        )
        return real_write(path, frames, *args, **kw)

    monkeypatch.setattr(parts_module, "write_video", recording_write)
    p = real_clips / "LipNet__sbia1a.mpg"
    cfg = forge.ForgeConfig(seed=11, fakes_per_video=2, max_side=160)
    runs = []
    for k in range(2):
        s = forge.Source(0, p, p.name, "train")
        runs.append(forge.forge_source(s, cfg, tmp_path / str(k), forge.DonorPool([s])))
    assert runs[0] == runs[1] and len(runs[0]["entries"]) == 3
    assert len(written) == 6 and written[:3] == written[3:]
    assert len({w[1] for w in written[:3]}) >= 2  # the fakes really differ from the real copy
    for e in runs[0]["entries"]:
        assert (tmp_path / "0" / e["file"]).read_bytes() == (tmp_path / "1" / e["file"]).read_bytes()


def test_assign_splits_by_source():
    s = forge.assign_splits(20, (0.7, 0.15, 0.15), seed=0)
    assert [s.count(k) for k in ("train", "dev", "test")] == [14, 3, 3]
    assert s == forge.assign_splits(20, (0.7, 0.15, 0.15), seed=0)
    assert s != forge.assign_splits(20, (0.7, 0.15, 0.15), seed=1)
    assert sorted(forge.assign_splits(3, (0.7, 0.15, 0.15), 0)) == ["dev", "test", "train"]
    assert forge.assign_splits(2, (1, 0, 0), 0) == ["train", "train"]
    with pytest.raises(UserError):
        forge.assign_splits(4, (1, -1, 0), 0)


def test_place_periods_are_disjoint_and_in_bounds():
    for seed in range(200):
        rng = np.random.default_rng(seed)
        t_len = int(rng.integers(20, 300))
        p = forge.place_periods(rng, t_len, int(rng.integers(1, 4)), 10, 40, 10)
        for (s, e), nxt in zip(p, p[1:] + [(t_len + 10, 0)]):
            assert 0 <= s and 10 <= e - s <= 40 and e + 10 <= nxt[0]
    assert forge.place_periods(np.random.default_rng(0), 5, 3, 10, 40, 10) == []


def test_replace_and_shift_audio_hand_computed():
    rng = np.random.default_rng(0)
    base = np.zeros(6400, np.float32)
    donor = np.full(4000, 0.5, np.float32)
    a = base.copy()
    info = forge.replace_audio(a, 640, 1920, donor, rng, target_level=0.25, xf=160)
    assert info["gain"] == pytest.approx(0.5)
    assert not a[:640].any() and not a[1920:].any()  # nothing outside the period
    np.testing.assert_allclose(a[800:1760], 0.25)  # loudness-matched inside
    assert 0 < a[640] < a[700] < 0.25 and 0 < a[1919] < 0.25  # cross-faded inside the edges
    ramp = np.arange(6400, dtype=np.float32)
    b = ramp.copy()
    info = forge.shift_audio(b, ramp, 3200, 4480, rng, (0.2, 0.2), xf=0)
    d = int(round(info["shift_s"] * 16000))
    assert abs(d) == 3200
    np.testing.assert_array_equal(b[3200:4480], ramp[3200 - d : 4480 - d])
    np.testing.assert_array_equal(b[:3200], ramp[:3200])


def test_cli_forge_reports_and_writes(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(48000) / 16000) * (rng.random(48000) > 0.3)
    write_video(src / "a.mp4", rng.integers(0, 255, (75, 48, 64, 3), dtype=np.uint8), 25, tone.astype(np.float32))
    (src / "b.avi").write_bytes(b"not a video")
    rc = main(
        [
            "forge",
            "--videos",
            str(src),
            "--output_root",
            str(tmp_path / "out"),
            "--fakes_per_video",
            "2",
            "--split_ratios",
            "1",
            "0",
            "0",
            "--no_progress",
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0
    assert "3 videos from 1/2 sources" in text and "no visual fakes" in text and "b.avi" in text
    recs = read_lavdf(tmp_path / "out")
    assert sorted(r.manipulation for r in recs) == ["audio", "audio", "real"]
    assert main(["forge", "--videos", str(tmp_path / "nowhere"), "--output_root", str(tmp_path / "o2")]) == 2
    # a name prefix keeps two forged sets apart in one feature store; a path in it is refused
    assert (
        main(
            [
                "forge",
                "--videos",
                str(src),
                "--output_root",
                str(tmp_path / "o3"),
                "--fakes_per_video",
                "1",
                "--split_ratios",
                "1",
                "0",
                "0",
                "--no_progress",
                "--name_prefix",
                "short_",
            ]
        )
        == 0
    )
    assert sorted(r.video_id for r in read_lavdf(tmp_path / "o3")) == ["short_000000", "short_000001"]
    capsys.readouterr()
    assert main(["forge", "--videos", str(src), "--output_root", str(tmp_path / "o4"), "--name_prefix", "../x"]) == 2
    assert "--name_prefix '../x'" in capsys.readouterr().err and not (tmp_path / "o4").exists()
