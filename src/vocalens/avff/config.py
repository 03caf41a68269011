"""AVFF's settings, once: the model and its clips (AVFFConfig, three named presets: tiny for tests, small
for CPU, base = the seed), the data (AVFFDataConfig), the stage options and the training loop
(FitConfig with AVFF's defaults), together AVFFRunConfig. The `vocalens avff` flags are generated from
these fields (vocalens.config): a model flag overrides the preset's value.

AVFFConfig fully describes the model and its clips, and is stored inside every checkpoint
(``ckpt["task"]["avff_config"]``, with the whole run's config as ``ckpt["task"]["config"]``) so that
``detect``/``evaluate``/``extract`` rebuild exactly what was trained.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from vocalens.config import flag
from vocalens.constants import FPS, SAMPLE_RATE
from vocalens.errors import UserError
from vocalens.media.crops import FACE_HELP


@dataclass(frozen=True)
class AVFFConfig:
    # clips: `num_frames` frames taken every `frame_stride` frames of the 25 fps grid, and the audio
    # of exactly the same span; the span is split into `num_slices` time slices (masking unit)
    fps: float = FPS
    num_frames: int = flag(16, "frames per clip")
    frame_stride: int = flag(2, "take every N-th frame of the 25 fps grid")
    num_slices: int = flag(8, "time slices per clip (masking unit)")
    sample_rate: int = SAMPLE_RATE
    # visual stream: transformers ViTModel on face crops ('face') or their lower-face region ('mouth',
    # vocalens.avff.preprocess.CROP_REGIONS), resized to image_size
    crop: str = flag("face", "visual input: whole face crop or its lower face", choices=["face", "mouth"])
    image_size: int = flag(224, "face crop size (must match --visual_weights)")
    patch_size: int = flag(16, "ViT patch side in pixels")
    vit_hidden: int = 768
    vit_layers: int = 12
    vit_heads: int = 12
    visual_weights: str | None = flag(None, "local folder of a saved transformers ViTModel (save_pretrained)", type=str)
    # audio stream: 'wav2vec2' (waveform) or 'mel' (log-mel transformer, lighter)
    audio_encoder: str = flag("wav2vec2", "the audio stream", choices=["wav2vec2", "mel"])
    w2v_hidden: int = 768
    w2v_layers: int = 12
    w2v_heads: int = 12
    w2v_conv_dim: tuple = (512, 512, 512, 512, 512, 512, 512)
    audio_weights: str | None = flag(None, "local folder of a saved transformers Wav2Vec2Model", type=str)
    n_fft: int = flag(1024, "log-mel FFT size")
    hop_length: int = flag(512, "log-mel hop in samples")
    n_mels: int = flag(64, "log-mel bands")
    mel_hidden: int = 256
    mel_layers: int = 4
    mel_heads: int = 4
    # shared width after the 768->dim projections, temporal encoders, cross-modal nets, decoders
    dim: int = 512
    heads: int = 8
    temporal_layers: int = 2
    cross_layers: int = 2
    decoder_layers: int = 2
    decoder_dim: int = 256
    target_size: int = 16  # visual reconstruction target: slice frames downsampled to this side
    dropout: float = 0.1
    temperature: float = 0.07  # InfoNCE
    # stage-1 loss weights
    rec_weight: float = flag(1.0, "stage-1 reconstruction weight")
    contrastive_weight: float = flag(0.1, "stage-1 InfoNCE weight")
    # stage-1 InfoNCE on 'clip' embeddings (slice-mean) or on every 'slice' token (each slice's face
    # against its own audio, the same slice of other clips and of the time-shifted audio: a lip-sync loss)
    contrastive: str = flag("clip", "stage-1 InfoNCE on clip means or per slice", choices=["clip", "slice"])
    # stage-2 classifier input: 'mean' = [mean fused, mean |v - A2V(a)|, mean |a - V2A(v)|];
    # 'slices' = per slice [fused, |v - A2V(a)|, |a - V2A(v)|, cos(v, a)] pooled by mean and max over
    # slices (a fake part of a clip is not averaged away; the cosine is stage 1's sync score)
    head: str = flag("mean", "stage-2 classifier input (see docs/avff.md)", choices=["mean", "slices"])
    # add a linear logit per stream on its slice tokens (mean + max over slices) to the joint classifier's
    stream_heads: bool = flag(False, "add a linear logit per stream to the joint classifier's")
    # each stream also sees its input minus the clip's mean (face frames: 3 more ViT channels; log-mel:
    # n_mels more inputs per frame): identity, lighting and voice timbre drop out of those channels,
    # mouth motion, sound onsets and a locally changed (re-driven, softened) mouth stay
    temporal_delta: bool = flag(False, "streams also see their input minus the clip mean")
    # frame token from the ViT: its 'cls' token (pretrained ViTs) or the 'mean' of its patch tokens
    # (a small ViT trained from scratch: at initialisation CLS barely depends on the image, so it learns slowly)
    visual_pool: str = flag("cls", "ViT frame token: CLS or mean patch token", choices=["cls", "mean"])
    # the ViT also sees each frame's high-frequency magnitude |Laplacian| per colour channel (3 more
    # channels): a re-driven mouth is rendered small and pasted back softened, and a patch embedding
    # (linear) cannot measure "how much fine detail" without a nonlinearity first (forgery detectors'
    # high-frequency residual input, e.g. Luo et al. CVPR 2021)
    highpass: bool = flag(False, "the ViT also sees each frame's |Laplacian| (fine-detail magnitude)")

    @property
    def visual_channels(self) -> int:
        """Channels of the ViT input: RGB, + RGB minus the clip mean (``temporal_delta``),
        + |Laplacian| (``highpass``)."""
        return 3 + 3 * self.temporal_delta + 3 * self.highpass

    @property
    def frames_per_slice(self) -> int:
        return self.num_frames // self.num_slices

    @property
    def span_frames(self) -> int:
        """Frames of the 25 fps grid a clip covers."""
        return self.num_frames * self.frame_stride

    @property
    def clip_seconds(self) -> float:
        return self.span_frames / self.fps

    @property
    def clip_samples(self) -> int:
        return int(round(self.clip_seconds * self.sample_rate))

    @property
    def mel_frames(self) -> int:
        """Mel frames used per clip: the largest multiple of num_slices the clip holds (center=True STFT)."""
        total = self.clip_samples // self.hop_length + 1
        return (total // self.num_slices) * self.num_slices

    def validate(self) -> "AVFFConfig":
        if self.num_frames % self.num_slices:
            raise UserError(
                f"avff config: num_frames ({self.num_frames}) must be a multiple of num_slices ({self.num_slices})"
            )
        if self.num_slices < 2 or self.num_slices % 2:
            raise UserError(f"avff config: num_slices must be even and >= 2 (got {self.num_slices})")
        if self.audio_encoder not in ("wav2vec2", "mel"):
            raise UserError(f"avff config: audio_encoder must be 'wav2vec2' or 'mel' (got {self.audio_encoder!r})")
        if self.crop not in ("face", "mouth"):
            raise UserError(f"avff config: crop must be 'face' or 'mouth' (got {self.crop!r})")
        if self.contrastive not in ("clip", "slice"):
            raise UserError(f"avff config: contrastive must be 'clip' or 'slice' (got {self.contrastive!r})")
        if self.visual_pool not in ("cls", "mean"):
            raise UserError(f"avff config: visual_pool must be 'cls' or 'mean' (got {self.visual_pool!r})")
        if self.head not in ("mean", "slices"):
            raise UserError(f"avff config: head must be 'mean' or 'slices' (got {self.head!r})")
        if self.image_size % self.patch_size:
            raise UserError(
                f"avff config: image_size {self.image_size} is not a multiple of patch_size {self.patch_size}"
            )
        if self.mel_frames < self.num_slices:
            raise UserError("avff config: clip too short for one mel frame per slice")
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["w2v_conv_dim"] = list(self.w2v_conv_dim)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "AVFFConfig":
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        if "w2v_conv_dim" in kw:
            kw["w2v_conv_dim"] = tuple(kw["w2v_conv_dim"])
        return cls(**kw).validate()


PRESETS: dict[str, AVFFConfig] = {
    # the seed's sizes: ViT-B/16 at 224 + wav2vec2-base, 512-d fusion. For GPUs (bf16).
    "base": AVFFConfig(),
    # trains on a 2-core CPU in minutes: small ViT on 64 px lower-face crops, mel-transformer audio,
    # per-slice (lip-sync) InfoNCE in stage 1, slice mean+max classifier input (docs/avff.md)
    "small": AVFFConfig(
        crop="mouth",
        contrastive="slice",
        head="slices",
        temporal_delta=True,
        visual_pool="mean",
        highpass=True,
        stream_heads=True,
        contrastive_weight=1.0,
        image_size=64,
        patch_size=16,
        vit_hidden=128,
        vit_layers=3,
        vit_heads=4,
        audio_encoder="mel",
        mel_hidden=128,
        mel_layers=2,
        mel_heads=4,
        w2v_hidden=128,
        w2v_layers=2,
        w2v_heads=4,
        w2v_conv_dim=(128,) * 7,
        dim=128,
        heads=4,
        temporal_layers=1,
        cross_layers=1,
        decoder_layers=1,
        decoder_dim=128,
        target_size=8,
        dropout=0.1,
    ),
    # unit tests: a few thousand parameters, 8-frame clips
    "tiny": AVFFConfig(
        num_frames=8,
        frame_stride=1,
        num_slices=4,
        image_size=32,
        patch_size=16,
        vit_hidden=32,
        vit_layers=1,
        vit_heads=2,
        audio_encoder="wav2vec2",
        w2v_hidden=32,
        w2v_layers=1,
        w2v_heads=2,
        w2v_conv_dim=(16, 16, 16, 16, 16, 16, 16),
        n_fft=256,
        hop_length=128,
        n_mels=16,
        mel_hidden=32,
        mel_layers=1,
        mel_heads=2,
        dim=32,
        heads=2,
        temporal_layers=1,
        cross_layers=1,
        decoder_layers=1,
        decoder_dim=32,
        target_size=4,
        dropout=0.0,
    ),
}


def get_preset(name: str, **overrides) -> AVFFConfig:
    if name not in PRESETS:
        raise UserError(f"unknown avff preset {name!r} (choose from {', '.join(PRESETS)})")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return replace(PRESETS[name], **overrides).validate()


# The training loop's defaults for the two stages (the loop's flags are FitConfig's; only these values differ
# from the localizer's). Tuned on the synthetic sets (docs/avff.md): a ViT trained from a small start wants
# more weight decay and a short warmup; stage 2 starts from stage 1's encoders and needs few epochs.
def pretrain_fit(**kw):
    from vocalens.train.loop import FitConfig

    return FitConfig(**{"output_dir": "", "epochs": 20, "lr": 3e-4, "weight_decay": 0.05, "warmup_epochs": 1.0, **kw})


def classify_fit(**kw):
    return pretrain_fit(**{"epochs": 10, "lr": 1e-3, **kw})


DEFAULT_CACHE = os.environ.get("VOCALENS_CACHE", str(Path.home() / ".cache" / "vocalens" / "avff"))
CACHE_MAX_GB = 20.0  # the cache's default bound (VOCALENS_CACHE_MAX_GB): least recently used entries go past it


@dataclass
class AVFFDataConfig:
    data_root: str | None = flag(
        None, "LAV-DF / AV-Deepfake1M folder, a folder of videos, or a .csv of path,label", type=str
    )
    csv: str | None = flag(None, "a CSV of path,label instead of --data_root", type=str)
    metadata: str | None = flag(None, "metadata file when not at DATA_ROOT/metadata.json", type=str)
    train_split: str = flag("train", "training split")
    val_split: str = flag("dev", "validation split ('' for no validation)")
    split: str = flag("test", "split to evaluate")
    clips_per_video: int = flag(4, "random clips per video per epoch")
    val_clips_per_video: int = flag(4, "fixed clips per validation video")
    min_shift: float = flag(0.4, "seconds: smallest time shift of a sync negative")
    # stage 1: the clip's own audio shifted in time as InfoNCE negatives
    hard_negatives: bool = flag(
        True,
        "InfoNCE negatives from other clips only (default adds the clip's own audio shifted in time)",
        name="--no_hard_negatives",
    )
    # stage 2: extra sync negatives
    shift_fakes: float = flag(
        0.0, "probability that a real training clip gets its own audio from >= --min_shift s away and the label fake"
    )
    label_fraction: float = flag(
        0.0,
        "soft clip targets min(1, fake fraction of the clip / F) for training (0: a "
        "clip is fake when any frame is); validation and evaluation keep that rule",
    )
    cache_dir: str = flag(
        DEFAULT_CACHE,
        "decoded face crops + audio, reused across runs ('' for none; default ~/.cache/vocalens/avff or "
        f"$VOCALENS_CACHE); bounded to $VOCALENS_CACHE_MAX_GB (default {CACHE_MAX_GB:g}) GB, least recently used "
        "entries removed first",
    )
    face: str = flag("auto", FACE_HELP)
    limit: int | None = flag(None, "use only the first N videos (quick runs)", type=int)


# which data fields each subcommand has
DATA_FIELDS = {
    "pretrain": (
        "data_root",
        "csv",
        "metadata",
        "train_split",
        "val_split",
        "clips_per_video",
        "val_clips_per_video",
        "min_shift",
        "hard_negatives",
        "cache_dir",
        "face",
        "limit",
    ),
    "train": (
        "data_root",
        "csv",
        "metadata",
        "train_split",
        "val_split",
        "clips_per_video",
        "val_clips_per_video",
        "min_shift",
        "shift_fakes",
        "label_fraction",
        "cache_dir",
        "face",
        "limit",
    ),
    "evaluate": ("data_root", "csv", "metadata", "split", "cache_dir", "face", "limit"),
}


@dataclass
class StageOptions:
    init: str | None = flag(None, "start from an earlier stage-1 checkpoint's weights", type=str)  # pretrain
    pretrained: str | None = flag(
        None,
        "stage-1 checkpoint to start from (its config wins over --preset; the "
        "stage-2 head flags --head/--stream_heads still apply)",
        type=str,
    )
    freeze_encoders: bool = flag(False, "train only fusion + classifier")
    encoder_lr_scale: float | None = flag(
        None,
        "fine-tuned encoders train at this times --lr (default: 0.1 with "
        "--pretrained, keeping what stage 1 learned; 1 from scratch)",
        type=float,
    )
    pos_weight: float | None = flag(None, "BCE weight of fake clips (class balance)", type=float)

    @property
    def lr_scale(self) -> float:
        if self.encoder_lr_scale is not None:
            return self.encoder_lr_scale
        return 0.1 if self.pretrained else 1.0


@dataclass
class AVFFRunConfig:
    """Everything one `vocalens avff pretrain|train` run decides (stored as ckpt["task"]["config"])."""

    stage: str  # 'pretrain' | 'classify'
    preset: str
    model: AVFFConfig
    data: AVFFDataConfig
    fit: object  # vocalens.train.loop.FitConfig
    options: StageOptions

    def to_dict(self) -> dict:
        from vocalens.config import to_dict

        return to_dict(self)
