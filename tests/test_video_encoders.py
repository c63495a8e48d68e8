"""Every torchvision video classification model as a harlit video encoder (model/video_encoder=NAME)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.models import get_model, get_model_weights
from torchvision.ops import StochasticDepth

from harlit.config import CONFIG_DIR, instantiate
from harlit.errors import HarlitError
from harlit.models.video_encoder import check_clip_settings
from harlit.stage1 import key_of
from harlit.train import train
from harlit.trained import load_model

VIDEO_ENCODERS = sorted(p.stem for p in (CONFIG_DIR / "model" / "video_encoder").glob("*.yaml"))
MVIT = ("mvit_v1_b", "mvit_v2_s")  # built for 16x224x224 clips only: their runs are slow on a CPU
FAST_RUNS = ("r3d_18", "swin3d_t")  # one per new family in the fast suite; the rest are marked slow
MVIT_CLIP = ("data.num_frames=16", "data.frame_size=224")
SLOW_FREEZE = (*MVIT, "swin3d_s", "swin3d_b")  # the same code as swin3d_t, at a higher cost


def size_of(name: str) -> tuple[int, int]:
    return (16, 224) if name in MVIT else (8, 32)


def slow_unless(fast: bool, name: str):  # noqa: ANN201
    return name if fast else pytest.param(name, marks=pytest.mark.slow)


def clip_overrides(name: str) -> list[str]:
    return list(MVIT_CLIP) if name in MVIT else []


def test_every_torchvision_video_classifier_is_an_encoder() -> None:
    expected = {
        "r3d_18",
        "mc3_18",
        "r2plus1d_18",
        "s3d",
        "mvit_v1_b",
        "mvit_v2_s",
        "swin3d_t",
        "swin3d_s",
        "swin3d_b",
    }
    assert set(VIDEO_ENCODERS) == expected


@pytest.mark.parametrize("name", VIDEO_ENCODERS)
def test_width_and_normalisation_come_from_the_torchvision_model(make_cfg, name: str) -> None:
    cfg = make_cfg(
        ["+experiment=synthetic_stage1_video", f"model/video_encoder={name}", *clip_overrides(name)]
    )
    encoder = instantiate(cfg.model.video)
    with torch.device("meta"):  # torchvision's own classifier, without allocating its weights
        reference = get_model(name)
    classifier = [m for m in reference.modules() if isinstance(m, (nn.Linear, nn.Conv3d))][-1]
    width = classifier.in_features if isinstance(classifier, nn.Linear) else classifier.in_channels
    assert encoder.out_dim == width
    transforms = get_model_weights(name).KINETICS400_V1.transforms()
    assert encoder.mean.flatten().tolist() == pytest.approx(list(transforms.mean))
    assert encoder.std.flatten().tolist() == pytest.approx(list(transforms.std))
    if name not in MVIT:  # an MViT forward at 16x224x224 runs in its slow tests
        clips = torch.randint(0, 256, (2, 3, 8, 32, 32), dtype=torch.uint8)
        with torch.no_grad():
            assert encoder.eval()(clips).shape == (2, width)


@pytest.mark.parametrize("name", [slow_unless(n not in SLOW_FREEZE, n) for n in VIDEO_ENCODERS])
def test_frozen_blocks_keep_their_norms_and_get_no_optimiser_state(make_cfg, name: str) -> None:
    """Stage 2's default (`trainable_blocks: stage2`): the model's last two blocks train, the rest is frozen:
    in eval mode (BatchNorm statistics still), no gradient (LayerNorm weights still), no optimiser state."""
    cfg = make_cfg(["+experiment=synthetic_stage2", f"model/video_encoder={name}"])
    model = instantiate(cfg.model, num_classes=4, imu_ckpt=None, video_ckpt=None)
    encoder = model.encoders["video"]
    assert cfg.model.video.trainable_blocks == "stage2" and 0 < len(encoder.trainable_blocks) <= 3
    frozen = [n for n in encoder.block_names if n not in encoder.trainable_blocks]
    model.train()
    assert all(not m.training for n in frozen for m in encoder.block(n).modules())
    norms = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm)
    assert any(isinstance(m, norms) for n in frozen for m in encoder.block(n).modules())
    before = {n: {k: v.clone() for k, v in encoder.block(n).state_dict().items()} for n in frozen}
    optimizer = model.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    optimised = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert not any(id(p) in optimised for n in frozen for p in encoder.block(n).parameters())
    frames, size = size_of(name)
    clips = torch.randint(0, 256, (2, 3, frames, size, size), dtype=torch.uint8)
    # Stochastic depth (MViT, Swin) can drop a block's branch for both clips of a batch, and with it
    # the block's every gradient: switched off, so the check below holds on every draw.
    for module in encoder.modules():
        if isinstance(module, (StochasticDepth, nn.Dropout)):
            module.eval()
    encoder(clips).square().mean().backward()
    optimizer.step()
    for n in frozen:
        after = encoder.block(n).state_dict()
        assert all(torch.equal(after[k], v) for k, v in before[n].items()), n
        assert all(p.grad is None for p in encoder.block(n).parameters()), n
    trained = encoder.block(encoder.trainable_blocks[-2])
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trained.parameters())


@pytest.mark.parametrize("name", [slow_unless(n in FAST_RUNS, n) for n in VIDEO_ENCODERS if n != "s3d"])
def test_stage1_then_stage2_from_the_encoder_file(make_cfg, tmp_path: Path, name: str) -> None:
    """`model/video_encoder=NAME` on a stage-2 command line trains that encoder in stage 1 and fine-tunes
    its stage-2 blocks; the model file rebuilds it and predicts."""
    clip = clip_overrides(name)
    stage1 = {"video": clip} if clip else None
    cfg = make_cfg(["+experiment=synthetic_stage2", f"model/video_encoder={name}"], stage1=stage1)
    metrics = train(cfg)
    assert 0.0 <= metrics["test/top1"] <= 1.0
    stage1_run = json.loads((tmp_path / "run" / "stage1_video" / "metrics.json").read_text())
    assert 0.0 <= stage1_run["test/top1"] <= 1.0
    model_file = torch.load(metrics["model_file"], weights_only=True)
    video = model_file["model_config"]["video"]
    assert video["arch"] == name and video["trainable_blocks"] == "stage2" and video["pretrained"] == "none"
    trained = load_model(tmp_path / "run")
    encoder = trained.classifier.encoders["video"]
    assert encoder.name == name and encoder.trainable_blocks == encoder.stage2_blocks
    frames, size = size_of(name)
    batch = {
        "imu": torch.randn(2, 6, 64),
        "video": torch.randint(0, 256, (2, 3, frames, size, size), dtype=torch.uint8),
    }
    probabilities = trained.predict_batch(batch)
    assert probabilities.shape[0] == 2 and torch.allclose(probabilities.sum(dim=1), torch.ones(2))
    # An explicit encoder file of another model contradicts the choice on the command line.
    other = make_cfg(
        [
            "+experiment=synthetic_stage2",
            "model/video_encoder=s3d",
            f"model.video_ckpt={metrics['video_ckpt']}",
        ],
        run="other",
    )
    with pytest.raises(HarlitError, match=rf"model/video_encoder=s3d contradicts .* a {name} encoder"):
        train(other)


def test_a_clip_size_a_model_cannot_take_is_one_sentence_before_training(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg(["+experiment=synthetic_stage1_video", "model/video_encoder=mvit_v2_s"])
    with pytest.raises(HarlitError) as err:
        train(cfg)
    assert str(err.value) == (
        "mvit_v2_s takes clips of 16x224x224 (frames x height x width) only, not 8x32x32; "
        "set data.num_frames=16 data.frame_size=224."
    )
    assert not (tmp_path / "run" / "metrics.json").exists()
    stage2 = make_cfg(
        ["+experiment=synthetic_stage2", "model/video_encoder=swin3d_t"],
        stage1={"video": ["data.num_frames=1"]},
    )
    with pytest.raises(
        HarlitError, match=r"clips of 1x32x32 .* too small for swin3d_t: one patch needs at least 2x4x4"
    ):
        train(stage2)
    assert not list((tmp_path / "checkpoints").rglob("encoder.pt"))


@pytest.mark.parametrize(("frames", "size", "fits"), [(5, 17, True), (4, 32, False), (8, 16, False)])
def test_s3d_s_smallest_clip_is_checked_before_training(make_cfg, frames: int, size: int, fits: bool) -> None:
    """S3D's limit is checked from the config, and the limit is where torchvision's S3D stops working."""
    cfg = make_cfg(
        ["+experiment=synthetic_stage1_video", f"data.num_frames={frames}", f"data.frame_size={size}"]
    )
    encoder = instantiate(cfg.model.video).eval()
    clips = torch.randint(0, 256, (1, 3, frames, size, size), dtype=torch.uint8)
    if fits:
        check_clip_settings(cfg.model.video, frames, size)
        with torch.no_grad():
            assert encoder.blocks(encoder.normalize(clips)).shape[:2] == (1, 1024)
        return
    with pytest.raises(
        HarlitError,
        match=rf"clips of {frames}x{size}x{size} .* too small for S3D: its unpadded pooling needs at least 5x17x17",
    ):
        check_clip_settings(cfg.model.video, frames, size)
    with pytest.raises(RuntimeError), torch.no_grad():  # torchvision's own failure, which the check prevents
        encoder.blocks(encoder.normalize(clips))


def test_two_video_encoders_have_different_registry_keys(make_cfg) -> None:
    keys = [
        key_of(make_cfg(["+experiment=synthetic_stage1_video", f"model/video_encoder={name}"]), "video")
        for name in ("s3d", "r3d_18", "mc3_18")
    ]
    assert keys[0] != keys[1] != keys[2] != keys[0]


def test_unknown_blocks_name_the_models_own_blocks() -> None:
    from harlit.models.video_resnet import VideoResNetEncoder

    with pytest.raises(
        HarlitError, match=r"unknown r3d_18 block 'Mixed_5c'.*'layer4'.*'stage2' \(\['layer3', 'layer4'\]\)"
    ):
        VideoResNetEncoder("r3d_18", trainable_blocks=["Mixed_5c"])
