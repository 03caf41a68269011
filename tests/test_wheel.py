"""The built wheel carries everything a `pip install` user needs: every module, the shipped weights, the
web page. Built from a copy of the source tree (what a clean clone has), so stale build/ output cannot hide
a missing package-data rule."""

import fnmatch
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "vocalens"
# package data that must ship (globs relative to src/vocalens); .pth only when one is present
DATA = ("assets/*.safetensors", "assets/*.pth", "assets/*.json", "serve/static/*")


def _source_copy(dst: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "src", dst / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, dst / name)
    return dst


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = _source_copy(tmp_path_factory.mktemp("clone"))
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(src), "-w", str(out)]
    try:  # the venv's setuptools builds it offline; without one pip fetches the build backend itself
        import setuptools  # noqa: F401

        cmd.insert(4, "--no-build-isolation")
    except ImportError:
        pass
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = out.glob("vocalens-*.whl")
    return whl


def test_wheel_contains_modules_weights_and_static_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {f"vocalens/{p.relative_to(PKG).as_posix()}" for p in PKG.rglob("*.py") if "__pycache__" not in p.parts}
    assert modules - names == set(), "modules missing from the wheel"
    present = {
        f"vocalens/{p.relative_to(PKG).as_posix()}"
        for p in PKG.rglob("*")
        if p.is_file() and any(fnmatch.fnmatch(p.relative_to(PKG).as_posix(), g) for g in DATA)
    }
    assert any(n.endswith(".safetensors") for n in present) and any("serve/static/" in n for n in present)
    assert present - names == set(), "package data missing from the wheel"
    assert any(n.endswith("entry_points.txt") for n in names)


def test_wheel_installs_and_runs_in_a_fresh_venv(wheel, tmp_path):
    """Installed with --no-deps into a new venv that sees this venv's dependencies (a .pth file) but not
    its editable vocalens: imports, the console script and the shipped weights come from the wheel."""
    env_dir = tmp_path / "fresh"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    r = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    deps = [p for p in sys.path if p.endswith("site-packages")]
    (site / "_vocalens_test_deps.pth").write_text("\n".join(deps) + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    check = (
        "import vocalens, vocalens.sync.weights as w; vocalens.__version__; "
        "assert vocalens.__file__.startswith(%r), vocalens.__file__; "
        "m, info, digest = w.load_weights(None); print(digest)" % str(site)
    )
    r = subprocess.run([str(py), "-c", check], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run(
        [str(env_dir / "bin" / "vocalens"), "demo", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert r.returncode == 0 and "usage: vocalens demo" in r.stdout, r.stderr[-2000:]
