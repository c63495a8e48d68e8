"""Attention fusion: one token per modality and a [CLS] token through a small Transformer encoder.

Each modality's feature vector is projected to `d_model` and given a learned modality embedding; a
learned [CLS] token is prepended and its output is classified (dropout + linear). A missing modality's
token is masked out of every attention layer with `src_key_padding_mask` ([CLS] never is), and its input
rows are zeroed first, so the output is exactly independent of what they held. A sample with no
modality at all (impossible in training) sees only [CLS]: its logits are the same constant for every
such sample. Nested tensors are disabled: with padding masks in eval mode they output zeros for padded
positions, and the fast path is only ever read at the never-padded [CLS] position.

Not implemented: the temporal-token variant (tokens from the encoders' feature maps before pooling).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from harlit.errors import HarlitError
from harlit.models.heads.base import Features, Head, Presence
from harlit.models.heads.masking import presence_matrix
from harlit.models.token_transformer import token_transformer


class AttentionFusion(Head):
    """[CLS] + modality tokens -> TransformerEncoder (batch first) -> [CLS] output -> classifier."""

    name = "attention"  # its config in conf/model/head/, and its label in metrics.json and reports

    def __init__(
        self,
        feature_dims: Mapping[str, int],
        num_classes: int,
        d_model: int = 128,
        nhead: int = 4,
        num_layers: int = 1,
        dim_feedforward: int = 256,
        dropout: float = 0.1,
        norm_first: bool = True,
    ) -> None:
        super().__init__(feature_dims, num_classes)
        if num_layers < 1:
            raise HarlitError(f"model.head.num_layers must be at least 1, not {num_layers}.")
        if nhead < 1 or d_model % nhead:
            raise HarlitError(
                f"model.head.d_model ({d_model}) must be a multiple of model.head.nhead ({nhead})."
            )
        self.projections = nn.ModuleDict({m: nn.Linear(dim, d_model) for m, dim in self.feature_dims.items()})
        self.modality_embeddings = nn.Parameter(torch.randn(len(self.feature_dims), d_model) * 0.02)
        self.cls_token = nn.Parameter(torch.randn(1, 1, d_model) * 0.02)
        self.encoder = token_transformer(d_model, nhead, num_layers, dim_feedforward, dropout, norm_first)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(d_model, num_classes))

    def forward(self, features: Features, present: Presence) -> torch.Tensor:
        filled = self.filled(features, present)  # absent rows: zeros, whatever they held
        tokens = torch.stack([self.projections[m](filled[m]) for m in self.modalities], dim=1)
        tokens = tokens + self.modality_embeddings.to(tokens.dtype)
        batch = tokens.shape[0]
        cls = self.cls_token.to(tokens.dtype).expand(batch, -1, -1)
        mask = presence_matrix(features, present, self.modalities)
        padding = torch.cat([torch.zeros_like(mask[:, :1]), ~mask], dim=1)  # True: ignore that token
        out = self.encoder(torch.cat([cls, tokens], dim=1), src_key_padding_mask=padding)
        return self.classifier(out[:, 0])
