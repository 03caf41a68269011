"""vocalens: find audio-visual deepfakes in talking-face videos and say where they are."""

__version__ = "0.1.0"
