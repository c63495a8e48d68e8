"""What every video encoder shares: named blocks, which of them train, pretrained weights, normalisation.

A video encoder wraps one torchvision video classification model without its classifier. Its blocks are
named units of that model (S3D's Mixed_4c, a ResNet's layer4, a transformer's blocks.15); the ones outside
`trainable_blocks` take no gradient, get no optimiser state (HARClassifier.configure_optimizers) and stay
in eval mode, so BatchNorm running statistics and LayerNorm weights in them never move. Clips are
normalised with the mean and std of the model's torchvision Kinetics-400 weights, whether or not those
weights are loaded, so a file trained from scratch and one fine-tuned from Kinetics take the same input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn
from torchvision.models import WeightsEnum

from harlit.errors import HarlitError
from harlit.safe_load import load_weights_only, pickled_code_error, refused_as_code

# trainable_blocks spellings besides a list of block names.
ALL, NONE, STAGE2 = "all", "none", "stage2"


def weights_path(weights: WeightsEnum) -> Path:
    """Where torch.hub caches a torchvision weights file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


def pretrained_state(
    pretrained: str | None, weights: WeightsEnum, name: str
) -> dict[str, torch.Tensor] | None:
    """The state dict `pretrained` names: none, kinetics400 (torchvision's download cache) or a file."""
    if pretrained in (None, "none", "None", ""):
        return None
    if pretrained == "kinetics400":
        try:
            return weights.get_state_dict(progress=False, check_hash=False, weights_only=True)
        except Exception as err:  # offline: URLError, socket errors, partial downloads
            if refused_as_code(err):
                raise pickled_code_error(
                    f"the cached Kinetics-400 {name} weights", weights_path(weights)
                ) from None
            raise HarlitError(
                f"the Kinetics-400 {name} weights are not cached and could not be downloaded "
                f"({type(err).__name__}); download {weights.url} and put it at {weights_path(weights)}, "
                "or set model.video.pretrained=none."
            ) from None
    path = Path(pretrained).expanduser()
    if not path.is_file():
        raise HarlitError(
            f"model.video.pretrained={pretrained!r} is neither 'none', 'kinetics400' nor an existing file; "
            f"give the path of a torchvision {name} state dict."
        )
    state = load_weights_only(
        path, f"the {name} state dict", fix=f"give the path of a torchvision {name} state dict"
    )
    return state.get("state_dict", state) if isinstance(state, dict) else state


def load_backbone_weights(
    model: nn.Module, state: Mapping[str, torch.Tensor], classifier: Sequence[str], pretrained: str, name: str
) -> None:
    """Load a torchvision state dict into `model`, whose classifier (keys under `classifier`) is dropped."""
    dropped = tuple(f"{c}." for c in classifier)
    kept = {k: v for k, v in state.items() if not k.startswith(dropped)}
    missing, unexpected = model.load_state_dict(kept, strict=False)
    missing = [k for k in missing if not k.startswith(dropped)]
    if missing or unexpected:
        raise HarlitError(
            f"the {name} weights {pretrained!r} do not match torchvision's {name} ({len(missing)} missing, "
            f"{len(unexpected)} unexpected keys); use a torchvision {name} state dict."
        )


class VideoEncoder(nn.Module):
    """Base of the video encoders: subclasses build the model, then call `_init_blocks` and `_init_input`.

    Input: clips (batch, 3, time, height, width), uint8 in [0, 255] or float in [0, 1].
    Output: (batch, out_dim).
    """

    name: str = "video model"
    out_dim: int
    # The smallest clip (frames, height, width) the model takes, and why; None: no lower limit.
    MIN_CLIP: tuple[int, int, int] | None = None
    MIN_CLIP_REASON = "the model"

    def _init_blocks(
        self,
        blocks: Mapping[str, nn.Module],
        trainable_blocks: Sequence[str] | str,
        stage2_blocks: Sequence[str],
    ) -> None:
        """`blocks`: the model's named units in forward order; `stage2_blocks`: what stage 2 fine-tunes."""
        self.block_names = tuple(blocks)
        self.stage2_blocks = tuple(stage2_blocks)
        self._blocks = dict(blocks)  # plain dict: the modules are registered by the model that owns them
        self.trainable_blocks = self._resolve_trainable(trainable_blocks)
        for name, block in self._blocks.items():
            block.requires_grad_(name in self.trainable_blocks)
        self.train()  # frozen blocks start in eval mode: Lightning does not call .train() before fitting

    def block(self, name: str) -> nn.Module:
        """The model's block called `name` (one of `block_names`)."""
        return self._blocks[name]

    def _init_input(self, weights: WeightsEnum, channels_last: bool) -> None:
        transforms = weights.transforms()  # built locally: nothing is downloaded
        self.register_buffer("mean", torch.tensor(transforms.mean).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(transforms.std).view(1, 3, 1, 1, 1), persistent=False)
        self.channels_last = channels_last

    def _resolve_trainable(self, trainable_blocks: Sequence[str] | str) -> tuple[str, ...]:
        if isinstance(trainable_blocks, str):
            if trainable_blocks == ALL:
                return self.block_names
            if trainable_blocks == NONE:
                return ()
            if trainable_blocks == STAGE2:
                return self.stage2_blocks
            trainable_blocks = [trainable_blocks]
        unknown = [b for b in trainable_blocks if b not in self.block_names]
        if unknown:
            raise HarlitError(
                f"unknown {self.name} block {unknown[0]!r} in model.video.trainable_blocks; choose from "
                f"{list(self.block_names)}, 'all', 'none' or 'stage2' ({list(self.stage2_blocks)})."
            )
        return tuple(trainable_blocks)

    def train(self, mode: bool = True) -> VideoEncoder:
        super().train(mode)
        for name, block in getattr(self, "_blocks", {}).items():
            if name not in self.trainable_blocks:
                block.eval()
        return self

    def normalize(self, clips: torch.Tensor) -> torch.Tensor:
        clips = clips.float().div_(255.0) if clips.dtype == torch.uint8 else clips.float()
        return (clips - self.mean) / self.std

    def prepared(self, clips: torch.Tensor) -> torch.Tensor:
        """Normalised clips in the configured memory layout, after checking their shape."""
        if clips.dim() != 5 or clips.shape[1] != 3:
            raise HarlitError(
                f"the {self.name} encoder expects clips (batch, 3, time, height, width), got {tuple(clips.shape)}."
            )
        self.check_clip(self.name, int(clips.shape[2]), int(clips.shape[3]), int(clips.shape[4]))
        x = self.normalize(clips)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        return x

    @classmethod
    def check_clip(cls, name: str, frames: int, height: int, width: int) -> None:
        """Raise one sentence when model `name` cannot take clips of this size."""
        low = cls.MIN_CLIP
        if low is not None and (frames < low[0] or height < low[1] or width < low[2]):
            raise HarlitError(
                f"clips of {frames}x{height}x{width} (frames x height x width) are too small for {name}: "
                f"{cls.MIN_CLIP_REASON} needs at least {low[0]}x{low[1]}x{low[2]}; raise data.num_frames or "
                "data.frame_size."
            )


def check_clip_settings(video: Mapping[str, object], num_frames: int, frame_size: int) -> None:
    """Before training: one sentence when the video encoder of config `video` cannot take the clips."""
    from hydra.utils import get_class

    encoder = get_class(str(video["_target_"]))
    if isinstance(encoder, type) and issubclass(encoder, VideoEncoder):
        name = str(video.get("arch") or encoder.name)
        encoder.check_clip(name, num_frames, frame_size, frame_size)


class TorchvisionVideoEncoder(VideoEncoder):
    """A torchvision video classifier whose classification layer is replaced by the identity.

    Subclasses name the architectures they build (`ARCHS`: name -> builder), the attribute of the
    classification layer (`CLASSIFIER`), and the model's blocks (`blocks_of`) and stage-2 blocks.
    The feature width is the input width of that classification layer.
    """

    ARCHS: Mapping[str, object] = {}
    CLASSIFIER = "fc"

    def __init__(
        self,
        arch: str,
        pretrained: str | None = "none",
        trainable_blocks: Sequence[str] | str = "all",
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        if arch not in self.ARCHS:
            raise HarlitError(f"model.video.arch must be one of {sorted(self.ARCHS)} here, not {arch!r}.")
        self.name = arch
        builder = self.ARCHS[arch]
        weights = _kinetics_weights(arch)
        model = builder(weights=None)  # type: ignore[operator]
        state = pretrained_state(pretrained, weights, arch)
        if state is not None:
            load_backbone_weights(model, state, (self.CLASSIFIER,), str(pretrained), arch)
        classifier = getattr(model, self.CLASSIFIER)
        linear = classifier if isinstance(classifier, nn.Linear) else classifier[-1]
        self.out_dim = int(linear.in_features)
        setattr(model, self.CLASSIFIER, nn.Identity())
        self.model = model
        self._init_input(weights, channels_last)
        blocks = self.blocks_of(model)
        self._init_blocks(blocks, trainable_blocks, self.stage2_of(tuple(blocks)))

    def blocks_of(self, model: nn.Module) -> dict[str, nn.Module]:
        """The model's named blocks in forward order (each a module of `model`)."""
        raise NotImplementedError

    def stage2_of(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """What stage 2 fine-tunes by default: the last two blocks (the paper's choice for S3D, generalised)."""
        return names[-2:]

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.model(self.prepared(clips))


def _kinetics_weights(arch: str) -> WeightsEnum:
    from torchvision.models import get_model_weights

    return get_model_weights(arch).KINETICS400_V1
