"""Video encoders: torchvision's Multiscale Vision Transformers, mvit_v1_b and mvit_v2_s (Fan et al., 2021;
Li et al., 2022) -> 768-d, the class token after the final norm.

torchvision builds MViT for one clip size, 16 frames of 224x224 (its positional embeddings and pooling
are laid out for it), so that is the only size these encoders take. Blocks: conv_proj (with the
positional encoding), blocks.0 ... blocks.15 and the final norm; stage 2 fine-tunes blocks.14, blocks.15
and the final LayerNorm, which normalises only their output.
"""

from __future__ import annotations

from torch import nn
from torchvision.models.video import mvit_v1_b, mvit_v2_s

from harlit.errors import HarlitError
from harlit.models.video_encoder import TorchvisionVideoEncoder

MVIT_CLIP = (16, 224, 224)  # frames, height, width


class MViTEncoder(TorchvisionVideoEncoder):
    """MViT v1-B or v2-S; clips must be 16x224x224."""

    ARCHS = {"mvit_v1_b": mvit_v1_b, "mvit_v2_s": mvit_v2_s}
    CLASSIFIER = "head"

    def blocks_of(self, model: nn.Module) -> dict[str, nn.Module]:
        # conv_proj and pos_encoding as one block: the patch embedding and where each patch sits. The
        # ModuleDict is a view: the encoder's blocks are a plain dict, so nothing is registered twice.
        blocks: dict[str, nn.Module] = {
            "conv_proj": nn.ModuleDict({"conv_proj": model.conv_proj, "pos_encoding": model.pos_encoding})
        }
        blocks.update({f"blocks.{i}": block for i, block in enumerate(model.blocks)})
        blocks["norm"] = model.norm
        return blocks

    def stage2_of(self, names: tuple[str, ...]) -> tuple[str, ...]:
        return names[-3:]  # the last two transformer blocks and the norm after them

    @classmethod
    def check_clip(cls, name: str, frames: int, height: int, width: int) -> None:
        if (frames, height, width) != MVIT_CLIP:
            raise HarlitError(
                f"{name} takes clips of 16x224x224 (frames x height x width) only, not "
                f"{frames}x{height}x{width}; set data.num_frames=16 data.frame_size=224."
            )
