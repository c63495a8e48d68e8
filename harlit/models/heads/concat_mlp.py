"""Concatenation fusion: modality features -> Linear -> [BN] -> ReLU -> Dropout -> Linear.

As `concat_mlp` (harlit's head, the default) it has BatchNorm and dropout 0.5; as `concat_mlp_paper`
(conf/model/head/concat_mlp_paper.yaml) neither, which is the paper's head as stated: two linear layers
and one non-linearity."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from harlit.models.heads.base import Features, Head, Presence


class ConcatMLP(Head):
    """Two-layer MLP over the concatenation of the modality features (in `feature_dims` order)."""

    name = "concat_mlp"  # its config in conf/model/head/, and its label in metrics.json and reports

    def __init__(
        self,
        feature_dims: Mapping[str, int],
        num_classes: int,
        hidden_dim: int = 512,
        dropout: float = 0.5,
        batch_norm: bool = True,
        missing_value: str = "zeros",
        name: str = "concat_mlp",
    ) -> None:
        super().__init__(feature_dims, num_classes, missing_value)
        self.name = name  # concat_mlp_paper: the same class in the paper's stated setting
        self.net = nn.Sequential(
            nn.Linear(sum(self.feature_dims.values()), hidden_dim),
            nn.BatchNorm1d(hidden_dim) if batch_norm else nn.Identity(),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, num_classes),
        )

    def forward(self, features: Features, present: Presence) -> torch.Tensor:
        return self.net(self.concatenated(features, present))
