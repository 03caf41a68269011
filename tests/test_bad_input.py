"""Issue 15, done when: a bad-input corpus made at test time (tests/bad_inputs.py) runs through `vocalens
detect`, `vocalens avff detect` and `vocalens extract`: every file is answered or gets one line naming it
(no traceback), the batch continues, the exit codes agree, and nothing outside the output folder changes.
Plus: failures.jsonl never gains duplicate lines on a rerun, the metadata classes of the issue, a feature
folder whose files disagree with meta.json, and a kill -9 of extract mid-write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bad_inputs  # noqa: I001  (tests/ helper)
from serve_helpers import tiny_checkpoint
from vocalens.cli import main
from vocalens.data import store

# files whose decode fails the same way in every command (a directory, a broken link, ... included)
UNDECODABLE = {
    "zero_bytes.mp4",
    "truncated.mp4",
    "random_bytes.mp4",
    "text.mp4",
    "no_audio.mp4",
    "audio_only.mp4",
    "a_directory.mp4",
    "broken_link.mp4",
    "voice.m4a",
    "missing.mp4",
}


def _tree(root: Path, skip: Path) -> dict:
    """Every path under ``root`` but ``skip`` with its size and mtime (links as their target text)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        d = Path(dirpath)
        if d == skip or skip in d.parents:
            dirs[:] = []
            continue
        for name in dirs + files:
            p = d / name
            if p == skip:
                continue
            out[str(p)] = ("link", os.readlink(p)) if p.is_symlink() else (p.stat().st_size, p.stat().st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, real_clips):
    base = tmp_path_factory.mktemp("bad")
    cases = bad_inputs.build(base / "videos", bad_inputs.face_frames(real_clips))
    cases["missing.mp4"] = "a path that does not exist"
    tiny_checkpoint(base / "localizer.pth")
    bad_inputs.tiny_avff_checkpoint(base / "avff.pth")
    return base, cases


def _run(argv, capsys):
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err + cap.out
    return rc, cap.out, cap.err


def _detect(base, cases, system, out, capsys):
    videos = [base / "videos" / n for n in sorted(cases)]
    head = ["detect"] if system == "localizer" else ["avff", "detect", "--no_plot"]
    before = _tree(base, out)
    rc, stdout, stderr = _run([*head, *videos, "--checkpoint", base / f"{system}.pth", "--output_dir", out], capsys)
    assert _tree(base, out) == before  # nothing outside the output folder changed
    answered = {Path(line.split(": ")[0]).name for line in stdout.splitlines() if line.startswith(str(base))}
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    failed = {Path(line[len("error: ") :].split(": ")[0]).name for line in errors}
    for line in errors:  # one line naming the file, the path once
        path = line[len("error: ") :].split(": ")[0]
        assert Path(path).name in cases and line.count(path) == 1, line
    assert answered | failed == set(cases) and not answered & failed  # every file: an answer or an error
    entries = json.loads((out / "detections.json").read_text())
    assert [e["source"] for e in entries] == [str(v) for v in videos]  # the batch went on to the end
    assert {Path(e["source"]).name for e in entries if "error" in e} == failed
    return rc, answered, failed, {Path(e["source"]).name: e for e in entries}


@pytest.mark.parametrize("system", ["localizer", "avff"])
def test_detect_answers_every_file_or_names_it(corpus, system, capsys):
    base, cases = corpus
    rc, answered, failed, entries = _detect(base, cases, system, base / f"out_{system}", capsys)
    assert rc == 1  # some files failed, after the batch: the one exit rule (vocalens.errors.batch_exit)
    assert failed == UNDECODABLE | {"no_face.mp4"}
    for name in ("silent.mp4", "short_audio.mp4"):  # answered, but UNCERTAIN with the reason
        assert entries[name]["verdict"] == "UNCERTAIN" and entries[name]["warnings"], name
    for name in ("good.mp4", "fps50.mp4", "fps22_13.mp4", "vfr.mp4", "ten_bit.mp4", "five_frames.mp4"):
        assert name in answered and entries[name]["num_frames"] > 0
    assert abs(entries["fps50.mp4"]["duration"] - 0.8) < 0.05 and abs(entries["vfr.mp4"]["duration"] - 0.8) < 0.1
    if "hevc_portrait.mp4" not in cases:
        pytest.skip("this PyAV has no libx265: the HEVC case was not made")
    assert "hevc_portrait.mp4" in answered


def test_detect_exit_codes_agree(corpus, capsys):
    """Every file answered -> 0, any failed -> 1, in both systems (avff detect exited 0 when files failed)."""
    base, _ = corpus
    good = base / "videos" / "good.mp4"
    for head, ck in ((["detect"], "localizer.pth"), (["avff", "detect", "--no_plot"], "avff.pth")):
        common = ["--checkpoint", base / ck, "--output_dir", base / "codes" / ck]
        assert _run([*head, good, *common], capsys)[0] == 0
        assert _run([*head, good, base / "videos" / "text.mp4", *common], capsys)[0] == 1
        assert _run([*head, base / "videos" / "text.mp4", *common], capsys)[0] == 1  # all failed: still 1


def _extract(base, out, capsys, *extra):
    before = _tree(base, out)
    rc, stdout, stderr = _run(
        ["extract", "--dataset_root", base / "videos", "--output_root", out, "--quiet", *extra], capsys
    )
    assert _tree(base, out) == before
    lines = (out / store.FAILURES_FILE).read_text().splitlines()
    return rc, stdout + stderr, [json.loads(x) for x in lines]


def test_extract_answers_records_and_reruns_without_duplicates(corpus, capsys):
    base, cases = corpus
    out = base / "feats"
    rc, text, fails = _extract(base, out, capsys)
    assert rc == 1
    done = {p.name for p in store.list_videos(out, "test")}
    failed = {Path(f["source"]).name for f in fails if f.get("video_id")}
    skipped = {Path(f["error"].split(": ")[0]).name for f in fails if f.get("stage") == "skipped"}
    assert skipped == {"a_directory.mp4", "broken_link.mp4", "voice.m4a"}  # counted and recorded, not silent
    assert failed == UNDECODABLE - skipped - {"missing.mp4"}
    assert len(done) + len(failed) == len(cases) - len(skipped) - 1 and "no_face" in done
    assert "3 folders, broken links or audio-only files skipped" in text
    assert f"{base / 'videos' / 'no_face.mp4'}: no face found in any frame" in text  # said, not silent
    assert f"{base / 'videos' / 'short_audio.mp4'}: audio track covers only 0.05 s" in text
    for f in fails:
        assert "\n" not in f["error"] and f["error"].count(str(base)) == 1  # the path once
    summary = store.store_summary(out)
    assert summary["failures"] == len(failed) and summary["skipped"] == 3

    rc2, _, again = _extract(base, out, capsys, "--skip_existing")
    assert rc2 == 1 and len(again) == len(fails)  # a rerun replaces its lines, never adds duplicates
    assert sorted(json.dumps(f, sort_keys=True) for f in again if "time" not in f) == sorted(
        json.dumps(f, sort_keys=True) for f in fails if "time" not in f
    )
    # a fixed file: extracted on the next run, and its failure line goes
    text_mp4 = base / "videos" / "text.mp4"
    saved = text_mp4.read_bytes()
    try:
        text_mp4.write_bytes((base / "videos" / "good.mp4").read_bytes())
        _, _, after = _extract(base, out, capsys, "--skip_existing")
    finally:
        text_mp4.write_bytes(saved)
    assert "text" not in {f.get("video_id") for f in after} and len(after) == len(fails) - 1
    assert store.is_complete(out / "test" / "text")


def test_extract_exit_code(corpus, tmp_path, capsys):
    base, _ = corpus
    one = tmp_path / "one"
    one.mkdir()
    (one / "good.mp4").symlink_to(base / "videos" / "good.mp4")
    assert _run(["extract", "--dataset_root", one, "--output_root", tmp_path / "o", "--quiet"], capsys)[0] == 0
    (one / "text.mp4").symlink_to(base / "videos" / "text.mp4")
    assert _run(["extract", "--dataset_root", one, "--output_root", tmp_path / "o", "--quiet"], capsys)[0] == 1


def test_metadata_classes_through_extract(corpus, tmp_path, capsys):
    """The metadata classes of the issue in one LAV-DF file: each bad entry skipped with one line and counted,
    the good ones extracted inside --output_root, exit 1."""
    base, _ = corpus
    root = tmp_path / "ds"
    (root / "test").mkdir(parents=True)
    good = (base / "videos" / "good.mp4").read_bytes()
    for name in ("test/000001.mp4", "dev", "test/000003.mp4"):
        (root / name).write_bytes(good)
    outside = tmp_path / "elsewhere" / "clip.mp4"
    outside.parent.mkdir()
    outside.write_bytes(good)
    label = {"fake_periods": [], "modify_video": False, "modify_audio": False}
    entries = [
        {"file": "test/000001.mp4", "split": "test", **label},
        {"file": "dev", "split": "test", **label},  # named like a split
        {"file": str(outside), "split": "test", **label},  # absolute: features still inside the store
        {"file": "../elsewhere/clip.mp4", "split": "dev", **label},
        "test/000002.mp4",  # not an object
        None,
        {"file": "test/000003.mp4", "split": "test", "duration": "abc", **label},  # non-numeric
        {"file": "test/000003.mp4", "split": "test"},  # only `file`: no label
        {"file": "test/000001.mp4", "split": "test", **label, "fake_periods": [[0.1, 0.3]]},  # duplicate
    ]
    (root / "metadata.json").write_text(json.dumps(entries))
    out = tmp_path / "feats"
    before = _tree(tmp_path, out)
    rc, stdout, stderr = _run(["extract", "--dataset_root", root, "--output_root", out, "--quiet"], capsys)
    assert rc == 1 and _tree(tmp_path, out) == before
    test = sorted(p.name for p in store.list_videos(out, "test"))
    assert len(test) == 3 and test[:2] == ["000001", "dev"] and test[2].endswith("elsewhere__clip")  # the absolute
    assert [p.name for p in store.list_videos(out, "dev")] == ["elsewhere__clip"]
    assert store.read_meta(out / "test" / "000001")["fake_periods"] == []  # the first entry kept
    assert "5 invalid metadata entries skipped" in stdout
    fails = [json.loads(x) for x in (out / store.FAILURES_FILE).read_text().splitlines()]
    assert len(fails) == 5 and all(f["stage"] == "metadata" and "\n" not in f["error"] for f in fails)
    reasons = " ".join(f["error"] for f in fails)
    for why in ("not an object", "duration must be a number", "no label field", "duplicate entry"):
        assert why in reasons
    _run(["extract", "--dataset_root", root, "--output_root", out, "--quiet", "--skip_existing"], capsys)
    assert len((out / store.FAILURES_FILE).read_text().splitlines()) == 5  # rerun: the same 5, not 10


def test_features_that_disagree_with_meta_are_refused(tmp_path):
    """Issue 15 (messages): evaluate accepted an npz whose frame count disagreed with meta.json."""
    from vocalens.errors import UserError

    d = store.write_features(tmp_path / "test" / "v", np.zeros((10, 4)), np.zeros((20, 3)), np.zeros(10), {})
    assert store.read_features(d).num_frames == 10
    meta = store.read_meta(d)
    (d / store.META_FILE).write_text(json.dumps({**meta, "num_frames": 12}))
    with pytest.raises(UserError, match=r"visual_embeddings.npz has 10 frames, meta.json says 12") as e:
        store.read_features(d)
    assert str(e.value).startswith(str(d)) and "\n" not in str(e.value)
    (d / store.META_FILE).write_text(json.dumps({**meta, "audio_frames": 19}))
    with pytest.raises(UserError, match="audio_embeddings.npz has 20 audio frames"):
        store.read_features(d)


KILLER = """
import os, signal, sys
import numpy as np
real, calls = np.savez, []

def savez(file, **arrays):  # the second video's audio npz: half written, then kill -9
    calls.append(str(file))
    if len(calls) == 4:
        import io
        buf = io.BytesIO()
        real(buf, **arrays)
        with open(file, "wb") as f:
            f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    real(file, **arrays)

np.savez = savez
from vocalens.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_of_extract_mid_write(corpus, tmp_path):
    """A kill -9 while a video's files are being written: no half-written video looks complete, and a rerun
    (--skip_existing) removes the leftover and completes every video, the killed one as a clean run makes it."""
    base, _ = corpus
    src = tmp_path / "videos"
    src.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        (src / name).symlink_to(base / "videos" / "good.mp4")
    out = tmp_path / "feats"
    argv = ["extract", "--dataset_root", str(src), "--output_root", str(out), "--quiet", "--num_workers", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run([sys.executable, "-c", KILLER, *argv], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == -9, run.stderr[-2000:]
    assert [p.name for p in store.list_videos(out, "test")] == ["a"]  # only the finished video counts
    assert not (out / "test" / "b").exists() and list((out / "test").glob(".tmp-b-*"))  # b: only a temp
    rerun = subprocess.run(
        [sys.executable, "-m", "vocalens", *argv, "--skip_existing"], env=env, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "1 extracted" not in rerun.stdout and "2 extracted, 1 already complete" in rerun.stdout
    assert "removed 1 unfinished folders" in rerun.stdout and not list((out / "test").glob(".tmp-*"))
    a, b = store.read_features(out / "test" / "a"), store.read_features(out / "test" / "b")
    assert np.array_equal(a.visual, b.visual) and np.array_equal(a.audio, b.audio)  # b as complete as a


def test_the_path_is_printed_once(corpus, tmp_path):
    """Issue 15 (messages): "FILE: error: FILE: ..." -- a library error that repeats the path (FFmpeg's do, so
    may an encoder's) reads "the file" inside a line that already names it."""
    from vocalens.data.metadata import read_folder
    from vocalens.encoders import build_audio_encoder, build_visual_encoder
    from vocalens.errors import cause, named
    from vocalens.localizer.extract import extract

    p = Path("/data/clip.mp4")
    assert named(p, "x") == f"{p}: x" and named(p, f"{p}: x") == f"{p}: x"
    assert named(p, cause(RuntimeError(f"cannot read '{p}'"), p)) == f"{p}: RuntimeError: cannot read the file"

    class Broken:  # an encoder whose error names the video it was given
        def __init__(self, inner, path):
            self.inner, self.path = inner, path

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def encode(self, x):
            raise RuntimeError(f"{self.path}: out of memory while encoding {self.path}")

        encode_local = encode  # the streamed path's per-chunk call, where an encoder has one

    base, _ = corpus
    records = read_folder(base / "videos")
    good = next(r for r in records if r.file == "good.mp4")
    s = extract(
        [good],
        tmp_path / "o",
        Broken(build_visual_encoder("default"), good.path),
        build_audio_encoder(),
        progress=False,
    )
    assert s.failed == 1 and s.failures[0].count(str(good.path)) == 1


def test_small_face_in_a_1080p_video_is_found(real_clips, tmp_path):
    """Issue 15.11 end to end: a 1080p video whose face is ~80 px wide (a DFDC-like shot) is decoded, its
    face found in every frame by the default detector (the multiscale retry of media/faces.py; its unit
    test is tests/test_landmarks.py::test_small_face_in_1080p), not "no face found in any frame"."""
    import cv2

    from vocalens.data.metadata import VideoRecord
    from vocalens.localizer.extract import decode_video
    from vocalens.media.crops import resolve_face

    crops = bad_inputs.face_frames(real_clips, 10)  # 240 px around a ~120 px face
    small = np.stack([cv2.resize(f, (160, 160), interpolation=cv2.INTER_AREA) for f in crops])
    frames = np.full((10, 1080, 1920, 3), 90, np.uint8)
    frames[:, 600:760, 1200:1360] = small
    path = bad_inputs.encode(tmp_path / "dfdc_like.mp4", frames, 25, bad_inputs._speech(0.4))
    d = decode_video(VideoRecord("x", "test", path, path.name), 25.0, resolve_face("auto"))
    assert d.error is None and d.face_found.all()
