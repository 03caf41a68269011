"""Issue 15.11: a ~60 px face in a 1080p frame was missed (the first pass decodes at 640 px, where it is
20 px). A keyframe that finds nothing looks again at the source's resolution (around the last face, or
in tiles with a backoff); a small face is then cropped from frames decoded larger. Big faces and videos
without a face pay nothing / little for it."""

import cv2
import numpy as np
import pytest

from vocalens.media import faces as faces_mod
from vocalens.media.crops import face_crops, iter_face_chunks, plan_faces
from vocalens.media.video import load_video, write_video

N = 16


@pytest.fixture(scope="module")
def clip(real_clips):
    return load_video(real_clips / "LipNet__bbaf2n.mpg")  # 360x288, its face 144 px wide (Haar)


def _canvas(path, clip, face_px: int, at=(1300, 600), frames: int = N):
    """``clip``'s frames scaled so that its face is ``face_px`` wide, pasted on a grey 1920x1080 canvas."""
    s = face_px / 144
    canvas = np.full((frames, 1080, 1920, 3), 100, np.uint8)
    x, y = at
    for i in range(frames):
        small = cv2.resize(clip.frames[i], (round(360 * s), round(288 * s)), interpolation=cv2.INTER_AREA)
        canvas[i, y : y + small.shape[0], x : x + small.shape[1]] = small
    return write_video(path, canvas, audio=clip.audio[: frames * 640]), s


def _counted(monkeypatch):
    calls = []
    real = faces_mod.detect_fine

    def spy(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(faces_mod, "detect_fine", spy)
    return calls


def test_a_60px_face_in_1080p_is_found_and_cropped_sharp(tmp_path, clip):
    p, s = _canvas(tmp_path / "small.mp4", clip, 60)
    plan = plan_faces(p, "haar")
    assert plan.found.mean() > 0.9
    box = plan.face_info()["box"]  # decoded (640x360) pixels: the canvas / 3
    assert plan.frame_size == (360, 640)
    assert abs(box[0] - (1300 + 84 * s) / 3) < 3 and abs(box[1] - (600 + 102 * s) / 3) < 3
    assert plan.crop_side == 1920  # the small face is cropped from the source's own pixels
    crops = np.concatenate(list(iter_face_chunks(p, plan, 224)))
    want = face_crops(clip.frames[:N], 224, "haar").frames  # the same face, cropped from the clip itself
    plan.crop_side = None
    coarse = np.concatenate(list(iter_face_chunks(p, plan, 224)))

    def r(x):
        return np.corrcoef(x.astype(float).ravel(), want.astype(float).ravel())[0, 1]

    assert r(crops) > r(coarse) + 0.01 and r(crops) > 0.93


def test_a_big_face_in_1080p_needs_no_second_look(tmp_path, clip, monkeypatch):
    p, _ = _canvas(tmp_path / "big.mp4", clip, 300, at=(800, 300))
    calls = _counted(monkeypatch)
    plan = plan_faces(p, "haar")
    assert plan.found.mean() > 0.9 and calls == [] and plan.crop_side is None


def test_no_face_in_1080p_backs_off(tmp_path, monkeypatch):
    frames = np.full((41, 1080, 1920, 3), 90, np.uint8)
    p = write_video(tmp_path / "none.mp4", frames)
    calls = _counted(monkeypatch)
    plan = plan_faces(p, "haar")  # keyframes 0, 5, ..., 40: searched at 0, 2 and 6 only
    assert not plan.found.any() and len(calls) == 3
