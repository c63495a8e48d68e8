"""IMU encoder: a 1D ResNet (a stem convolution, stages of basic residual blocks, global average pooling)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from harlit.errors import HarlitError
from harlit.models.imu_checks import check_imu_input, require_odd, require_positive, require_positive_list


def conv_bn(in_width: int, out_width: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
    """A padded Conv1d (no bias: BatchNorm's shift replaces it) and BatchNorm1d."""
    return nn.Sequential(
        nn.Conv1d(in_width, out_width, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
        nn.BatchNorm1d(out_width),
    )


class BasicBlock1d(nn.Module):
    """conv-BN-ReLU-conv-BN plus a shortcut, then ReLU; the shortcut is a strided 1x1 conv and BN where the
    width or the stride changes, the identity otherwise (He et al., 2016, in one dimension)."""

    def __init__(self, in_width: int, out_width: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            conv_bn(in_width, out_width, kernel_size, stride),
            nn.ReLU(inplace=True),
            conv_bn(out_width, out_width, kernel_size),
        )
        changes_shape = stride != 1 or in_width != out_width
        self.shortcut = conv_bn(in_width, out_width, 1, stride) if changes_shape else nn.Identity()
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.residual(x) + self.shortcut(x))


class ResNet1dEncoder(nn.Module):
    """Stem (Conv1d-BN-ReLU, width `widths[0]`) -> stages of basic blocks -> global average pooling.

    Stage i has `widths[i]` channels and `blocks[i]` blocks; every stage after the first halves the time
    axis in its first block. Convolutions are padded, so any length would run; inputs shorter than the
    receptive field of one output position are refused all the same (no position of the last feature map
    would see a whole window of real samples), and `receptive_field` is what harlit.predict checks.
    Input: (batch, channels, time). Output: (batch, widths[-1]).
    """

    def __init__(
        self,
        in_channels: int = 6,
        widths: Sequence[int] = (64, 128, 128),
        blocks: Sequence[int] = (1, 1, 1),
        kernel_size: int = 5,
        stem_kernel_size: int = 7,
    ) -> None:
        super().__init__()
        require_positive("in_channels", in_channels)
        require_positive_list("widths", widths)
        require_positive_list("blocks", blocks)
        if len(widths) != len(blocks):
            raise HarlitError(
                f"model.imu.widths {list(widths)} and model.imu.blocks {list(blocks)} must have the same "
                "length; give one block count per stage."
            )
        require_odd("kernel_size", kernel_size)
        require_odd("stem_kernel_size", stem_kernel_size)
        self.stem = nn.Sequential(conv_bn(in_channels, widths[0], stem_kernel_size), nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        # Receptive field of one output position, grown layer by layer: each kernel adds (k - 1) input
        # steps at the current spacing (`jump`), and each stride-2 convolution doubles that spacing.
        field, jump = stem_kernel_size, 1
        previous = widths[0]
        for stage, (width, count) in enumerate(zip(widths, blocks, strict=True)):
            for index in range(count):
                stride = 2 if stage > 0 and index == 0 else 1
                layers.append(BasicBlock1d(previous, width, kernel_size, stride))
                field += (kernel_size - 1) * jump
                jump *= stride
                field += (kernel_size - 1) * jump
                previous = width
        self.stages = nn.Sequential(*layers)
        self.in_channels = in_channels
        self.out_dim = previous
        self.receptive_field = field

    def forward(self, imu: torch.Tensor) -> torch.Tensor:
        check_imu_input(
            imu, self.in_channels, self.receptive_field, "use a smaller model.imu.kernel_size or fewer stages"
        )
        return self.stages(self.stem(imu)).mean(dim=-1)
