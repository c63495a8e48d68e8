"""Gated multimodal unit (Arevalo et al., 2017, "Gated Multimodal Units for Information Fusion").

Each modality is projected to a common width with tanh; a gate computed from the concatenated inputs
mixes the projections (h = sum_m z_m * h_m), then dropout and a linear classifier. The gate is a softmax
over the modalities, which for two is the paper's sigmoid gate (h = z * h_imu + (1 - z) * h_video with
z = sigmoid(g_imu - g_video)). A missing modality's gate logit is masked, so the gate goes entirely to the
present modality and the missing projection is weighted by exactly 0; its input rows are zeroed first,
so what they held never matters. A sample with no modality at all (impossible in training) gets h = 0,
i.e. the classifier's bias as logits.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from harlit.errors import HarlitError
from harlit.models.heads.base import Features, Head, Presence
from harlit.models.heads.masking import masked_softmax, presence_matrix


class GatedFusion(Head):
    """tanh projections to `hidden_dim`, mixed by a gate over the present modalities, then a classifier."""

    name = "gated"  # its config in conf/model/head/, and its label in metrics.json and reports

    def __init__(
        self,
        feature_dims: Mapping[str, int],
        num_classes: int,
        hidden_dim: int = 128,
        dropout: float = 0.3,
    ) -> None:
        super().__init__(feature_dims, num_classes)
        if hidden_dim < 1:
            raise HarlitError(f"model.head.hidden_dim must be at least 1, not {hidden_dim}.")
        self.projections = nn.ModuleDict(
            {m: nn.Linear(dim, hidden_dim) for m, dim in self.feature_dims.items()}
        )
        self.gate = nn.Linear(sum(self.feature_dims.values()), len(self.feature_dims))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden_dim, num_classes))

    def forward(self, features: Features, present: Presence) -> torch.Tensor:
        filled = self.filled(features, present)  # absent rows: zeros, whatever they held
        hidden = torch.stack([torch.tanh(self.projections[m](filled[m])) for m in self.modalities], dim=1)
        # z: (batch, modalities), summing to 1 over each sample's present modalities.
        gate_logits = self.gate(torch.cat([filled[m] for m in self.modalities], dim=1))
        z = masked_softmax(gate_logits, presence_matrix(features, present, self.modalities))
        fused = (z.to(hidden.dtype).unsqueeze(2) * hidden).sum(dim=1)
        return self.classifier(fused)
