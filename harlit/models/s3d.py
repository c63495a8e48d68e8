"""Video encoder: torchvision S3D `features` + global average pooling -> 1024-d."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torchvision.models.video import S3D_Weights, s3d

from harlit.constants import KINETICS_MEAN, KINETICS_STD
from harlit.errors import HarlitError
from harlit.safe_load import load_weights_only, pickled_code_error, refused_as_code

log = logging.getLogger(__name__)

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


def kinetics_weights_path() -> Path:
    """Where torch.hub caches the Kinetics-400 S3D weights."""
    url = S3D_Weights.KINETICS400_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def _load_pretrained(model: nn.Module, pretrained: str | None) -> None:
    if pretrained in (None, "none", "None", ""):
        return
    if pretrained == "kinetics400":
        weights = S3D_Weights.KINETICS400_V1
        target = kinetics_weights_path()
        try:
            state = weights.get_state_dict(progress=False, check_hash=False, weights_only=True)
        except Exception as err:  # offline: URLError, socket errors, partial downloads
            if refused_as_code(err):
                raise pickled_code_error("the cached Kinetics-400 S3D weights", target) from None
            raise HarlitError(
                f"the Kinetics-400 S3D weights are not cached and could not be downloaded ({type(err).__name__}); "
                f"download {weights.url} and put it at {target}, or set model.video.pretrained=none."
            ) from None
    else:
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise HarlitError(
                f"model.video.pretrained={pretrained!r} is neither 'none', 'kinetics400' nor an existing file; "
                "give the path of an S3D state dict."
            )
        state = load_weights_only(path, "the S3D state dict", fix="give the path of an S3D state dict")
        state = state.get("state_dict", state) if isinstance(state, dict) else state
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    missing, unexpected = model.load_state_dict(features, strict=False)
    missing = [k for k in missing if k.startswith("features.")]
    if missing or unexpected:
        raise HarlitError(
            f"the S3D weights {pretrained!r} do not match torchvision's S3D ({len(missing)} missing, "
            f"{len(unexpected)} unexpected keys); use a torchvision S3D state dict."
        )


class S3DEncoder(nn.Module):
    """S3D backbone as a feature extractor, with a named subset of trainable blocks.

    Input: clips (batch, 3, time, height, width), uint8 in [0, 255] or float in [0, 1]; normalised here
    with the Kinetics statistics. Output: (batch, 1024). Any clip size the S3D features accept works,
    so tiny clips run on a CPU.

    Frozen blocks take no gradient and always stay in eval mode, so their BatchNorm statistics never move.
    """

    out_dim = 1024

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
        _load_pretrained(backbone, pretrained)
        self.blocks = nn.Sequential(OrderedDict(zip(S3D_BLOCK_NAMES, backbone.features, strict=True)))
        self.trainable_blocks = self._resolve_trainable(trainable_blocks)
        for name, block in self.blocks.named_children():
            block.requires_grad_(name in self.trainable_blocks)
        self.channels_last = channels_last
        self.register_buffer("mean", torch.tensor(KINETICS_MEAN).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(KINETICS_STD).view(1, 3, 1, 1, 1), persistent=False)
        self.train()  # frozen blocks start in eval mode: Lightning does not call .train() before fitting

    @staticmethod
    def _resolve_trainable(trainable_blocks: Sequence[str] | str) -> tuple[str, ...]:
        if isinstance(trainable_blocks, str):
            if trainable_blocks == "all":
                return S3D_BLOCK_NAMES
            if trainable_blocks == "none":
                return ()
            trainable_blocks = [trainable_blocks]
        unknown = [b for b in trainable_blocks if b not in S3D_BLOCK_NAMES]
        if unknown:
            mixed = [n for n in S3D_BLOCK_NAMES if n.startswith("Mixed")]
            raise HarlitError(
                f"unknown S3D block {unknown[0]!r} in model.video.trainable_blocks; choose from {mixed}, 'all' or 'none'."
            )
        return tuple(trainable_blocks)

    def train(self, mode: bool = True) -> S3DEncoder:
        super().train(mode)
        for name, block in self.blocks.named_children():
            if name not in self.trainable_blocks:
                block.eval()
        return self

    def normalize(self, clips: torch.Tensor) -> torch.Tensor:
        clips = clips.float().div_(255.0) if clips.dtype == torch.uint8 else clips.float()
        return (clips - self.mean) / self.std

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        if clips.dim() != 5 or clips.shape[1] != 3:
            raise HarlitError(
                f"the S3D encoder expects clips (batch, 3, time, height, width), got {tuple(clips.shape)}."
            )
        x = self.normalize(clips)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        try:
            x = self.blocks(x)
        except RuntimeError as err:
            if "Output size is too small" in str(err) or "Kernel size can't be greater" in str(err):
                raise HarlitError(
                    f"clips of shape {tuple(clips.shape[2:])} (time, height, width) are too small for S3D; "
                    "use at least 8 frames of 32x32 (data.num_frames, data.frame_size)."
                ) from None
            raise
        return x.mean(dim=(2, 3, 4))
