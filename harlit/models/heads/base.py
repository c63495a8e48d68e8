"""The head interface shared by stage 1 (one modality) and stage 2 (fusion).

A head receives the per-modality feature vectors and, per modality, a mask of the samples that have it,
and returns logits. Rows of an absent modality hold nothing meaningful: the head decides what stands in
for them (its missing-modality value), so a new fusion strategy is one subclass and one config file
(conf/model/head/<name>.yaml).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from harlit.errors import HarlitError

MISSING_VALUES = ("zeros", "learned")

Features = Mapping[str, torch.Tensor]  # modality -> (batch, dim)
Presence = Mapping[str, torch.Tensor | None]  # modality -> (batch,) bool; None: every sample has it


def zero_through(module: nn.Module | nn.Parameter) -> torch.Tensor | float:
    """0, computed from one element of each trainable parameter of `module`.

    Added to the features of a modality that no sample of a training batch has, it keeps every parameter
    in the step's graph (with a zero gradient): DDP then never meets an unused parameter and needs no
    find_unused_parameters search, and a single process steps the same parameters as DDP ranks do.
    """
    found = [module] if isinstance(module, nn.Parameter) else module.parameters()
    params = [p.view(-1)[:1] for p in found if p.requires_grad]
    return torch.cat(params).sum() * 0.0 if params else 0.0


class Head(nn.Module):
    """Base head: `feature_dims` orders the modalities; `missing_value` fills absent rows (zeros | learned)."""

    name = "head"  # each head: its config name in conf/model/head/

    def __init__(
        self, feature_dims: Mapping[str, int], num_classes: int, missing_value: str = "zeros"
    ) -> None:
        super().__init__()
        if missing_value not in MISSING_VALUES:
            raise HarlitError(
                f"model.head.missing_value must be one of {list(MISSING_VALUES)}, not {missing_value!r}."
            )
        self.feature_dims = dict(feature_dims)
        self.num_classes = num_classes
        self.missing_value = missing_value
        if missing_value == "learned":
            self.missing = nn.ParameterDict(
                {m: nn.Parameter(torch.zeros(dim)) for m, dim in self.feature_dims.items()}
            )

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.feature_dims)

    def missing_features(self, modality: str, like: torch.Tensor) -> torch.Tensor:
        """The missing-modality value for every row of `like` (batch, dim)."""
        if self.missing_value == "learned":
            return self.missing[modality].to(like.dtype).unsqueeze(0).expand_as(like)
        return torch.zeros_like(like)

    def filled(self, features: Features, present: Presence) -> dict[str, torch.Tensor]:
        """Each modality's features with the missing-modality value in its absent rows."""
        out = {}
        for m in self.modalities:
            mask = present.get(m)
            feats = features[m]
            if mask is not None:
                out[m] = torch.where(mask.unsqueeze(1), feats, self.missing_features(m, feats))
            elif self.missing_value == "learned" and self.training:
                out[m] = feats + zero_through(self.missing[m])  # a complete batch: keep it in the graph
            else:
                out[m] = feats
        return out

    def concatenated(self, features: Features, present: Presence) -> torch.Tensor:
        """The filled features side by side, in `feature_dims` order: (batch, sum of dims)."""
        filled = self.filled(features, present)
        return torch.cat([filled[m] for m in self.modalities], dim=1)

    def forward(self, features: Features, present: Presence) -> torch.Tensor:
        raise NotImplementedError
