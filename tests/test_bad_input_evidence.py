"""Issue 15 item 12 and the short-audio message: both systems say when the evidence is missing, by one rule
(vocalens.result.missing_evidence): no face in any frame is a one-line error, too few faces, a silent or
speechless track, or a track much shorter than the video make the verdict UNCERTAIN with the reason."""

import numpy as np
import pytest

import bad_inputs  # noqa: I001  (tests/ helper)
from vocalens.result import missing_evidence


def test_the_evidence_rule():
    assert missing_evidence(1.0, 0.1, 0.9, 6.0, 6.0) == []
    assert missing_evidence(None, 0.1, 0.9) == []  # --face none: faces not judged
    assert missing_evidence(0.2, 0.1, 0.9) == ["face found in only 20% of frames"]
    assert missing_evidence(1.0, 0.0, 0.0) == ["audio track is silent"]
    assert missing_evidence(1.0, 0.1, 0.05) == ["speech in only 5% of frames"]
    # 0.05 s of audio under 6 s of video: said as such (not as "little speech")
    assert missing_evidence(1.0, 0.1, 0.01, 0.05, 6.0) == ["audio track covers only 0.05 s of the 6.00 s video"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, real_clips):
    root = tmp_path_factory.mktemp("evidence")
    frames = bad_inputs.face_frames(real_clips, 20)
    face = bad_inputs._resize(frames, 96, 96)
    speech = bad_inputs._speech(0.8)
    v = root / "videos"
    bad_inputs.encode(v / "good.mp4", face, 25, speech)
    bad_inputs.encode(v / "silent.mp4", face, 25, np.zeros_like(speech))
    bad_inputs.encode(v / "short_audio.mp4", face, 25, speech[:800])
    bad_inputs.encode(v / "no_face.mp4", np.full((20, 96, 96, 3), 100, np.uint8), 25, speech)
    return root


@pytest.mark.parametrize("system", ["localizer", "avff"])
def test_both_systems_say_when_evidence_is_missing(corpus, system):
    import serve_helpers
    import vocalens
    from vocalens.errors import UserError

    make = serve_helpers.tiny_checkpoint if system == "localizer" else bad_inputs.tiny_avff_checkpoint
    det = vocalens.load(make(corpus / f"{system}.pth"))
    v = corpus / "videos"
    good = det.detect(v / "good.mp4", face="auto")
    assert good.missing == [] and good.verdict in ("REAL", "FAKE")
    silent = det.detect(v / "silent.mp4", face="auto")
    assert silent.verdict == "UNCERTAIN" and silent.warnings == ["audio track is silent"]
    short = det.detect(v / "short_audio.mp4", face="auto")
    assert short.verdict == "UNCERTAIN" and short.missing == ["audio track covers only 0.05 s of the 0.80 s video"]
    assert "[audio track covers only 0.05 s" in short.verdict_line()
    assert short.to_json()["warnings"] == short.missing
    with pytest.raises(UserError, match="no face found in any frame") as e:  # AVFF gave a confident verdict
        det.detect(v / "no_face.mp4", face="auto")
    assert str(e.value).startswith(str(v / "no_face.mp4")) and "\n" not in str(e.value)


def test_avff_evaluate_skips_a_video_without_a_face(corpus):
    """A no-face video in an AVFF evaluation is reported and left out (it stopped the run once AVFF said no
    face, had the error not been a MediaError)."""
    import vocalens

    v = corpus / "videos"
    (corpus / "eval.csv").write_text(f"path,label\n{v / 'good.mp4'},0\n{v / 'silent.mp4'},1\n{v / 'no_face.mp4'},1\n")
    det = vocalens.load(bad_inputs.tiny_avff_checkpoint(corpus / "avff_eval.pth"))
    res = det.evaluate(corpus / "eval.csv", face="auto", progress=False)
    assert len(res["skipped"]) == 1 and res["skipped"][0].startswith(f"{v / 'no_face.mp4'}: no face found")
    assert len(res["videos"]) == 2
