"""Video encoder: torchvision S3D `features` + global average pooling -> 1024-d."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torchvision.models.video import S3D_Weights, s3d

from harlit.models.video_encoder import VideoEncoder, load_backbone_weights, pretrained_state, weights_path

# torchvision keeps S3D's blocks in an unnamed Sequential; these are the names of the original
# S3D/I3D graph, in torchvision's order, so configs can say "Mixed_4c" instead of an index.
S3D_BLOCK_NAMES = (
    "Conv3d_1a",
    "MaxPool_2a",
    "Conv3d_2b",
    "Conv3d_2c",
    "MaxPool_3a",
    "Mixed_3b",
    "Mixed_3c",
    "MaxPool_4a",
    "Mixed_4b",
    "Mixed_4c",
    "Mixed_4d",
    "Mixed_4e",
    "Mixed_4f",
    "MaxPool_5a",
    "Mixed_5b",
    "Mixed_5c",
)
S3D_STAGE2_BLOCKS = ("Mixed_4c", "Mixed_5c")  # the paper's stage-2 fine-tuning


def kinetics_weights_path() -> Path:
    """Where torch.hub caches the Kinetics-400 S3D weights."""
    return weights_path(S3D_Weights.KINETICS400_V1)


class S3DEncoder(VideoEncoder):
    """S3D backbone as a feature extractor, with a named subset of trainable blocks.

    Output: (batch, 1024). Clips of at least 5x17x17 (frames x height x width) work, so tiny clips run on a CPU.
    """

    name = "S3D"
    out_dim = 1024
    MIN_CLIP = (5, 17, 17)  # measured on torchvision's S3D
    MIN_CLIP_REASON = "its unpadded pooling"

    def __init__(
        self,
        pretrained: str | None = "none",
        trainable_blocks: Sequence[str] | str = "all",
        channels_last: bool = False,
        bn_momentum: float | None = 0.1,
    ) -> None:
        super().__init__()
        backbone = s3d(weights=None)
        if bn_momentum is not None:
            # torchvision's S3D ports TF's BatchNorm momentum (0.001): running statistics then barely
            # move in a short fine-tune or a from-scratch run, and eval-mode outputs are garbage.
            for module in backbone.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.momentum = bn_momentum
        if len(backbone.features) != len(S3D_BLOCK_NAMES):
            raise RuntimeError("torchvision's S3D layout changed; update S3D_BLOCK_NAMES")
        state = pretrained_state(pretrained, S3D_Weights.KINETICS400_V1, self.name)
        if state is not None:
            load_backbone_weights(backbone, state, ("classifier",), str(pretrained), self.name)
        self.blocks = nn.Sequential(OrderedDict(zip(S3D_BLOCK_NAMES, backbone.features, strict=True)))
        self._init_input(S3D_Weights.KINETICS400_V1, channels_last)
        self._init_blocks(dict(self.blocks.named_children()), trainable_blocks, S3D_STAGE2_BLOCKS)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.prepared(clips)).mean(dim=(2, 3, 4))
