"""Video encoders: torchvision's Video Swin Transformers, swin3d_t / swin3d_s / swin3d_b (Liu et al., 2022).

Blocks, as torchvision builds the model: patch_embed, features.0 ... features.6 (four stages of
transformer blocks with patch merging between them) and the final norm. Stage 2 fine-tunes the last two
(the last patch merging and the last stage) and the final LayerNorm, which normalises only their output.
Clips of any size are padded to whole windows, so they take any size of at least 2 frames of 4x4 pixels.
"""

from __future__ import annotations

from torch import nn
from torchvision.models.video import swin3d_b, swin3d_s, swin3d_t

from harlit.models.video_encoder import TorchvisionVideoEncoder

SWIN3D_PATCH = (2, 4, 4)  # frames, height, width of one token: torchvision's patch size for all three


class Swin3DEncoder(TorchvisionVideoEncoder):
    """Video Swin: 768-d (t, s) or 1024-d (b) features after the final norm and average pooling."""

    ARCHS = {"swin3d_t": swin3d_t, "swin3d_s": swin3d_s, "swin3d_b": swin3d_b}
    CLASSIFIER = "head"
    MIN_CLIP = SWIN3D_PATCH
    MIN_CLIP_REASON = "one patch"

    def blocks_of(self, model: nn.Module) -> dict[str, nn.Module]:
        blocks = {"patch_embed": model.patch_embed}
        blocks.update({f"features.{i}": stage for i, stage in enumerate(model.features)})
        blocks["norm"] = model.norm
        return blocks

    def __init__(self, arch: str, **kwargs: object) -> None:
        super().__init__(arch, **kwargs)  # type: ignore[arg-type]
        if tuple(self.model.patch_embed.proj.kernel_size) != SWIN3D_PATCH:
            raise RuntimeError("torchvision's Swin3D patch size changed; update SWIN3D_PATCH")

    def stage2_of(self, names: tuple[str, ...]) -> tuple[str, ...]:
        return names[-3:]  # the last two feature blocks and the norm after them
