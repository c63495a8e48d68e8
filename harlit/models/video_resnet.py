"""Video encoders: torchvision's 3D ResNets, r3d_18, mc3_18 and r2plus1d_18 (Tran et al., 2018) -> 512-d.

Blocks: stem, layer1 ... layer4; stage 2 fine-tunes layer3 and layer4. They take any clip size: every
convolution is padded and the features end in global average pooling.
"""

from __future__ import annotations

from torch import nn
from torchvision.models.video import mc3_18, r2plus1d_18, r3d_18

from harlit.models.video_encoder import TorchvisionVideoEncoder


class VideoResNetEncoder(TorchvisionVideoEncoder):
    """r3d_18 (3D convolutions), mc3_18 (3D, then 2D in the upper layers), r2plus1d_18 ((2+1)D)."""

    ARCHS = {"r3d_18": r3d_18, "mc3_18": mc3_18, "r2plus1d_18": r2plus1d_18}
    CLASSIFIER = "fc"

    def blocks_of(self, model: nn.Module) -> dict[str, nn.Module]:
        return {name: getattr(model, name) for name in ("stem", "layer1", "layer2", "layer3", "layer4")}
