"""A synthetic LAV-DF: rendered talking faces with speech-like audio and partial fakes.

Layout and schema are LAV-DF's (``{train,dev,test}/NNNNNN.mp4``, ``metadata.json`` with
``timestamps``/``transcript``, ``metadata.min.json`` without), so every later stage runs on it
exactly as on LAV-DF. As in LAV-DF, each fake derives from a real video of the same split
(``original``) and is identical to it outside its fake periods; inside them the audio is replaced
(other speech, loudness-matched and cross-faded, over the same mouth), the mouth is re-driven by
other speech with lip-sync blending artefacts (visual), or both (new speech and a mouth re-driven
by it, as LAV-DF's TTS + Wav2Lip fakes). Everything derives from ``(seed, index)`` only, so a
dataset is reproducible and any video can be re-rendered alone.

  plan.py     SynthConfig, VideoPlan, plan_dataset      what each video will be
  face.py     the drawn face (mouth, eyes, artefacts)
  speech.py   formant speech with word timestamps
  render.py   render_video: one plan -> frames + audio
  dataset.py  synthesize: plans -> encoded videos + metadata (resumable)
  checks.py   cue and sync measurements used by tests and benchmarks
"""

from vocalens.datagen.synth.dataset import ENCODER_PRESET, synthesize
from vocalens.datagen.synth.plan import KINDS, SynthConfig, VideoPlan, plan_dataset
from vocalens.datagen.synth.render import Rendered, render_video

__all__ = [
    "ENCODER_PRESET",
    "KINDS",
    "Rendered",
    "SynthConfig",
    "VideoPlan",
    "plan_dataset",
    "render_video",
    "synthesize",
]
