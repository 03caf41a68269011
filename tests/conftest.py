import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REAL_CLIPS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real-clips"


@pytest.fixture(scope="session")
def real_clips() -> Path:
    """../shared/data/real-clips beside the checkout; tests using it skip when it is absent."""
    if not REAL_CLIPS.is_dir():
        pytest.skip("../shared/data/real-clips not present")
    return REAL_CLIPS
