"""``hubert``: transformers' HubertModel on audio (the seed's origin used HuBERT-large, 1024-d at 50 Hz).

The Wav2Vec2 encoder with another model class: same local-folder loading (nothing downloaded),
20 s chunks on one 320-sample frame grid, bf16 autocast on CUDA. Two things differ:
``layer`` picks a hidden layer (``-1`` or the layer count: the last, ``last_hidden_state``; ``0``: the
projected CNN features plus the positional convolution, the transformer's input; ``k``: the output of
transformer layer k), and ``normalize`` defaults to what the model
was trained with: the folder's ``preprocessor_config.json`` ``do_normalize`` if present, else
True exactly for models with layer-normalised conv features (``hubert-large-*``; ``hubert-base-ls960``
was trained on raw waveforms, its feature extractor has ``do_normalize=False``).
A ``HubertForCTC`` folder such as ``facebook/hubert-large-ls960-ft`` loads as its HubertModel part.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from vocalens.encoders import register_audio
from vocalens.encoders.hf import Wav2Vec2Encoder
from vocalens.errors import UserError


def _trained_normalize(folder, config) -> bool:
    pre = Path(str(folder)) / "preprocessor_config.json"
    if pre.is_file():
        try:
            return bool(json.loads(pre.read_text()).get("do_normalize", True))
        except (OSError, ValueError) as e:
            raise UserError(f"{pre}: not a readable preprocessor config ({e})")
    return getattr(config, "feat_extract_norm", "group") == "layer"


@register_audio("hubert")
class HubertEncoder(Wav2Vec2Encoder):
    """HubertModel hidden states at 50 Hz: the last layer, or ``layer=k`` (see the module docstring)."""

    name = "hubert"
    model_class = "HubertModel"

    def __init__(
        self, weights=None, device="cpu", layer: int = -1, chunk_seconds: float = 20.0, normalize: bool | None = None
    ):
        super().__init__(weights, device, chunk_seconds, normalize=True)
        n_layers = int(self.model.config.num_hidden_layers)
        if not -1 <= int(layer) <= n_layers:
            raise UserError(f"{self.weights}: hubert layer must be -1 (last) or 0..{n_layers}, got {layer}")
        # layer n is the last: last_hidden_state, which for stable-layer-norm models (large) includes the final
        # layer norm; transformers 4.x also returns that as hidden_states[n], 5.x the un-normed output
        self.layer = -1 if int(layer) == n_layers else int(layer)
        self.normalize = _trained_normalize(self.weights, self.model.config) if normalize is None else bool(normalize)

    def config(self) -> dict:
        return {**super().config(), "layer": self.layer}

    def _hidden(self, x: torch.Tensor) -> torch.Tensor:
        if self.layer == -1:
            return self.model(x).last_hidden_state
        return self.model(x, output_hidden_states=True).hidden_states[self.layer]
