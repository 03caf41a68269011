"""vocalens: find audio-visual deepfakes in talking-face videos and say where they are.

import vocalens
result = vocalens.load("best.pth").detect("clip.mp4")   # -> vocalens.VideoResult
"""

__version__ = "0.1.0"

__all__ = ["Detector", "VideoResult", "load"]


def __getattr__(name: str):
    # lazy, so that `import vocalens` (and `vocalens --help`) stays instant
    if name == "load":
        from vocalens.api import load

        return load
    if name in ("Detector", "VideoResult"):
        from vocalens import result

        return getattr(result, name)
    raise AttributeError(f"module 'vocalens' has no attribute {name!r}")
