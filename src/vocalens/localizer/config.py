"""The localizer's settings, once: model, loss, data and training loop, each field with its default and
its reason, the flags of ``vocalens train`` generated from them (vocalens.config), checked in
:meth:`LocalizerConfig.validate`. A checkpoint stores exactly the config the command line built
(``ckpt["task"]["config"]``), and :meth:`LocalizerConfig.from_dict` reads it back.

The seed's flag spellings and defaults are kept: ``--no_cross_attn``, ``--video_loss_weight 0.3``,
``--pos_weight -1``, ``--batch_size 8 --epochs 100 --lr 1e-4``, ...
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vocalens.config import flag, from_dict, to_dict
from vocalens.errors import UserError
from vocalens.train.loop import FitConfig

CHECKPOINT_KIND = "vocalens-localizer"  # ckpt["task"]["kind"] of every localizer checkpoint
MODALITIES = ("both", "visual", "audio")  # --modality ablation: the other stream is zeroed


@dataclass
class ModelConfig:
    visual_dim: int | None = None  # from the feature store (the encoders' widths)
    audio_dim: int | None = None
    d_model: int = flag(512, "Transformer width")
    num_layers: int = flag(4, "temporal Transformer layers")
    nhead: int = flag(8, "attention heads (d_model must be divisible by it)")
    dim_feedforward: int | None = None  # default 4 * d_model
    dropout: float = flag(0.1, "residual, feed-forward, input and head dropout")
    # dropout on the attention weights. 0 lets torch use its fused attention kernels: the [B, heads, T, T]
    # random mask alone was 27% of a CPU training step, 1.7x faster without (benchmarks/results/train.md)
    attn_dropout: float = flag(0.0, "dropout on attention weights (0: fused attention, 1.7x faster on CPU)")
    cross_attn: bool = flag(True, "fuse by mean instead of cross-modal attention", name="--no_cross_attn")
    video_head: bool = flag(True, "video score = max frame logit", name="--no_video_head")
    conv_kernel: int = flag(
        7, "frames each projection's temporal convolution sees (odd; 1 = per-frame Linear as in the seed)"
    )  # 7: docs/quality.md
    # standardise each input feature over the sequence's valid frames before projecting: what is constant
    # in a video (identity, lighting, microphone, compression) leaves the decision; only its changes stay
    feature_norm: bool = flag(
        False,
        "standardise each input feature over each video window (removes identity, lighting, microphone: used "
        "for real footage)",
    )
    # with a sync encoder pair (visual and audio in one embedding space, e.g. `sync`): the cosine of the
    # raw inputs at audio offsets -L..L frames, projected into the fused stream. A real frame peaks at its
    # own lag; a fake one has no peak or a peak elsewhere. 0 = off (the seed's model)
    sync_lags: int = flag(
        0,
        "feed the cosine of the raw visual/audio features at offsets -N..N frames (needs a sync encoder pair such "
        "as --visual_encoder sync --audio_encoder sync; 0 = off)",
    )
    # with a sync encoder pair: a learned affine of the raw cosine cos(visual_t, audio_t), box-smoothed over N
    # frames, added to the frame logit, so the sync ranking the inputs carry reaches the output. 0 = off
    sync_residual: int = flag(
        0,
        "add a learned affine of the raw visual/audio cosine, smoothed over N frames, to the frame logit (needs a "
        "sync encoder pair; 0 = off)",
    )
    energy: bool = flag(
        True, "no per-frame (change) energy channels in the projections (the seed's inputs only)", name="--no_energy"
    )

    # the boundary head (vocalens.localizer.boundary): fake segments regressed directly, beside the frame head
    boundary_head: bool = flag(
        True,
        "no boundary-regression head (segments from thresholded frames only: the seed's model)",
        name="--no_boundary_head",
    )
    boundary_levels: int = flag(5, "boundary head: pyramid levels (strides 1, 2, 4, ...)")
    boundary_radius: float = flag(1.5, "boundary head: centre-sampling radius, in strides of the level")
    # the head's inputs beside the fused encoding: each stream's projection (and the lag profile with
    # --sync_lags) at full resolution; an audio-only fake changes the audio stream, which the fused
    # encoding only carries mixed with the video's
    boundary_streams: bool = flag(
        True,
        "boundary head: fused encoding and similarity only as inputs (not each stream)",
        name="--no_boundary_streams",
    )
    boundary_edges: bool = flag(
        True, "boundary head: no per-frame start/end probabilities (no edge refinement)", name="--no_boundary_edges"
    )
    boundary_refine: int = flag(2, "boundary head: frames a regressed edge may move to the likeliest start/end frame")
    # refine 2, edge weight 0.3: best AV1M++ score on dev (benchmarks/results/boundary_decoding.md)
    boundary_edge_weight: float = flag(
        0.3, "boundary head: weight w of the start/end probabilities in the score, score^(1-w) * sqrt(ps*pe)^w"
    )
    boundary_topk: int = flag(50, "boundary head: candidates per pyramid level and window at decoding")
    boundary_fusion: float = flag(
        0.2, "boundary head: weight w of the frame head in score^(1-w) * mean frame probability^w (0: off)"
    )
    # decoding defaults from the dev split of the 2400-video benchmark (benchmarks/results/boundary_decoding.md):
    # sigma 2 with snapping and no voting scored best (AV1M++ 0.662 at fusion 0, 0.661 at 0.2, kept for its
    # AP@0.5-0.95); voting moved edges off the frame grid and cost AP@0.95 there
    boundary_sigma: float = flag(2.0, "boundary head: Gaussian soft-NMS sigma")
    boundary_voting: float = flag(
        1.0, "boundary head: IoU of the candidates that vote on a segment's edges (1: off, the default)"
    )
    boundary_snap: bool = flag(
        True,
        "boundary head: keep regressed edges between frames (default: rounded to whole frames)",
        name="--no_boundary_snap",
    )
    boundary_proposals: int = flag(100, "boundary head: ranked proposals per video (>= 100 for LAV-DF's AR@100)")

    # what a checkpoint written before a field existed was trained with (the seed's per-frame projection,
    # no boundary head)
    LEGACY = {
        "conv_kernel": 1,
        "energy": False,
        "boundary_head": False,
        "boundary_streams": False,
        "boundary_edges": False,
    }

    def validate(self) -> "ModelConfig":
        if self.d_model % self.nhead:
            raise UserError(f"--d_model {self.d_model} must be divisible by --nhead {self.nhead}")
        for name in ("dropout", "attn_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise UserError(f"--{name}: a probability in [0, 1), got {getattr(self, name)}")
        if self.sync_residual < 0:
            raise UserError(f"--sync_residual: a number of frames >= 0, got {self.sync_residual}")
        if self.conv_kernel < 1 or self.conv_kernel % 2 == 0:
            raise UserError(f"--conv_kernel: an odd number >= 1, got {self.conv_kernel}")
        if self.boundary_levels < 1 or self.boundary_topk < 1 or self.boundary_proposals < 1:
            raise UserError("--boundary_levels, --boundary_topk, --boundary_proposals: numbers >= 1")
        if not 0 <= self.boundary_fusion <= 1:
            raise UserError(f"--boundary_fusion: a weight in [0, 1], got {self.boundary_fusion}")
        if self.boundary_refine < 0 or not 0 <= self.boundary_edge_weight <= 1:
            raise UserError("--boundary_refine: frames >= 0; --boundary_edge_weight: a weight in [0, 1]")
        if self.boundary_sigma <= 0 or self.boundary_radius <= 0:
            raise UserError("--boundary_sigma, --boundary_radius: numbers > 0")
        return self

    def to_dict(self) -> dict:
        return to_dict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        return from_dict(cls, d, cls.LEGACY)


@dataclass
class LossConfig:
    """L = L_frame + a*L_video + b*L_smooth + g*L_similarity + d*L_boundary (vocalens.localizer.losses)."""

    pos_weight: float = flag(-1.0, "BCE weight of fake frames (-1: real/fake frame ratio of the training split)")
    use_focal: bool = flag(False, "focal loss instead of BCE for frames")
    focal_alpha: float = flag(0.25, "focal loss weight of fake frames (1 - alpha for real ones)")
    focal_gamma: float = flag(2.0, "focal loss focusing exponent")
    video_loss_weight: float = flag(0.3, "weight a of the video-level BCE")
    smooth_loss_weight: float = flag(0.1, "weight b of the temporal smoothness term")
    similarity_loss_weight: float = flag(0.2, "weight g of the similarity supervision (real -> 1, fake -> 0)")
    boundary_loss_weight: float = flag(
        1.0, "weight of the boundary head's loss (focal + DIoU + quality; with the boundary head)"
    )

    def to_dict(self) -> dict:
        return to_dict(self)


@dataclass
class DataConfig:
    features_root: str = flag(help="feature store root (with {split}/{video_id}/ folders)")
    splits: tuple = flag(
        ("train", "dev"), "training split, then the validation split (default: train dev)", nargs="+", metavar="SPLIT"
    )
    max_frames: int = flag(512, "longer videos are split into windows of this many frames")
    modality: str = flag("both", "ablation: zero out the other stream", choices=MODALITIES)
    # out-of-sync negatives: stretches of one stream taken from elsewhere in the same video, labelled fake
    sync_aug: float = flag(0.5, "chance a training window gets out-of-sync stretches labelled fake (0: off)")

    @property
    def train_split(self) -> str:
        return self.splits[0]

    @property
    def val_split(self) -> str | None:
        return self.splits[1] if len(self.splits) > 1 else None


def localizer_fit(**kw) -> FitConfig:
    """The training loop's defaults for the localizer: FitConfig's own, which are the seed's."""
    return FitConfig(output_dir=kw.pop("output_dir", "./checkpoints/localization"), **kw)


@dataclass
class LocalizerConfig:
    """Everything ``vocalens train`` decides. ``LocalizerConfig(data=DataConfig(features_root="feats"))``
    is a complete default run."""

    data: DataConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    fit: FitConfig = field(default_factory=localizer_fit)

    def validate(self) -> "LocalizerConfig":
        if len(self.data.splits) not in (1, 2):
            raise UserError(
                f"--splits: give a training split and optionally a validation split, got {list(self.data.splits)}"
            )
        if not 0 <= self.data.sync_aug <= 1:
            raise UserError(f"--sync_aug: a probability in [0, 1], got {self.data.sync_aug}")
        if self.data.modality not in MODALITIES:
            raise UserError(f"--modality: {self.data.modality!r} is not one of {', '.join(MODALITIES)}")
        self.model.validate()
        return self

    def to_dict(self) -> dict:
        return to_dict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LocalizerConfig":
        d = dict(d)
        return cls(
            data=from_dict(DataConfig, d.get("data")),
            model=ModelConfig.from_dict(d.get("model") or {}),
            loss=from_dict(LossConfig, d.get("loss")),
            fit=from_dict(FitConfig, d.get("fit")),
        )
