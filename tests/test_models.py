"""Encoder shapes, user errors of the encoders, and the stage-1/stage-2 module wiring."""

from __future__ import annotations

import urllib.error

import pytest
import torch

from harlit.errors import HarlitError
from harlit.models.heads.concat_mlp import ConcatMLP
from harlit.models.heads.linear import LinearHead
from harlit.models.imu_cnn import IMUEncoder
from harlit.models.s3d import S3D_BLOCK_NAMES, S3DEncoder, kinetics_weights_path


@pytest.mark.parametrize("length", [46, 64, 128, 333])
@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_imu_encoder_shapes(length: int, pooling: str) -> None:
    encoder = IMUEncoder(in_channels=6, channels=(8, 16, 24), pooling=pooling)
    assert encoder.receptive_field == 46
    assert encoder(torch.randn(3, 6, length)).shape == (3, 24)


def test_imu_encoder_default_widths() -> None:
    encoder = IMUEncoder(in_channels=12)
    assert encoder.out_dim == 96
    assert [m.kernel_size[0] for m in encoder.modules() if isinstance(m, torch.nn.Conv1d)] == [24, 16, 8]


def test_imu_too_short_is_a_clear_error() -> None:
    encoder = IMUEncoder(in_channels=6)
    with pytest.raises(HarlitError, match="shorter than the encoder's receptive field of 46"):
        encoder(torch.randn(2, 6, 45))


def test_imu_encoder_batch_norm_option() -> None:
    plain, normed = IMUEncoder(in_channels=6), IMUEncoder(in_channels=6, norm="batch")
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in plain.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in normed.modules()) == 3
    assert normed(torch.randn(4, 6, 64)).shape == (4, 96)
    with pytest.raises(HarlitError, match="model.imu.norm must be 'none' or 'batch'"):
        IMUEncoder(norm="layer")


@pytest.mark.parametrize("clip", [(8, 32, 32), (16, 32, 48), (12, 64, 64)])
def test_s3d_encoder_shapes(clip: tuple[int, int, int]) -> None:
    encoder = S3DEncoder(pretrained="none").eval()
    frames = torch.randint(0, 256, (2, 3, *clip), dtype=torch.uint8)
    with torch.no_grad():
        assert encoder(frames).shape == (2, 1024)


# The S3D/Inception graph's blocks: (input channels, output channels), pools None. From the S3D paper's
# architecture (Xie et al., 2018), which keeps Inception-v1's widths; independent of torchvision's code.
S3D_GRAPH = {
    "Conv3d_1a": (3, 64),
    "MaxPool_2a": None,
    "Conv3d_2b": (64, 64),
    "Conv3d_2c": (64, 192),
    "MaxPool_3a": None,
    "Mixed_3b": (192, 256),
    "Mixed_3c": (256, 480),
    "MaxPool_4a": None,
    "Mixed_4b": (480, 512),
    "Mixed_4c": (512, 512),
    "Mixed_4d": (512, 512),
    "Mixed_4e": (512, 528),
    "Mixed_4f": (528, 832),
    "MaxPool_5a": None,
    "Mixed_5b": (832, 832),
    "Mixed_5c": (832, 1024),
}


def test_s3d_block_names_match_torchvisions_blocks() -> None:
    """Each name lands on torchvision's block with that block's widths: a shifted or swapped mapping fails."""
    from torchvision.models.video import s3d

    reference = s3d(weights=None).features
    assert len(reference) == len(S3D_GRAPH) == len(S3D_BLOCK_NAMES)
    x = torch.randn(1, 3, 8, 32, 32)
    encoder = S3DEncoder().eval()
    with torch.no_grad():
        for index, name in enumerate(S3D_BLOCK_NAMES):
            block = getattr(encoder.blocks, name)
            assert block is not reference[index] and type(block) is type(reference[index]), name
            widths = S3D_GRAPH[name]
            y = block(x)
            if widths is None:
                assert isinstance(block, torch.nn.MaxPool3d) and y.shape[1] == x.shape[1], name
            else:
                assert (x.shape[1], y.shape[1]) == widths, name
            x = y


def test_s3d_named_blocks_and_freezing() -> None:
    encoder = S3DEncoder(trainable_blocks=["Mixed_4c", "Mixed_5c"])
    trainable = {n.split(".")[1] for n, p in encoder.named_parameters() if p.requires_grad}
    assert trainable == {"Mixed_4c", "Mixed_5c"}
    encoder.train()
    assert encoder.blocks.Mixed_4c.training and encoder.blocks.Mixed_5c.training
    assert not encoder.blocks.Mixed_4b.training and not encoder.blocks.Conv3d_1a.training


def test_s3d_unknown_block_is_a_clear_error() -> None:
    with pytest.raises(HarlitError, match="unknown S3D block 'Mixed_9z'"):
        S3DEncoder(trainable_blocks=["Mixed_4c", "Mixed_9z"])


def test_missing_kinetics_weights_offline_says_where_to_put_them(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(HarlitError) as err:
        S3DEncoder(pretrained="kinetics400")
    message = str(err.value)
    assert str(kinetics_weights_path()) in message and "s3d-" in message and "\n" not in message


def test_s3d_loads_a_torchvision_state_dict(tmp_path) -> None:
    from torchvision.models.video import s3d

    reference = s3d()
    path = tmp_path / "s3d.pt"
    torch.save(reference.state_dict(), path)
    encoder = S3DEncoder(pretrained=str(path))
    ours, theirs = encoder.blocks.Mixed_5c.state_dict(), reference.features[15].state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_s3d_bad_pretrained_path_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(HarlitError, match="neither 'none', 'kinetics400' nor an existing file"):
        S3DEncoder(pretrained=str(tmp_path / "nope.pt"))


def test_fusion_mlp_is_two_linear_layers() -> None:
    head = ConcatMLP({"imu": 96, "video": 1024}, num_classes=27, hidden_dim=64)
    linears = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(1120, 64), (64, 27)]
    features = {"imu": torch.randn(4, 96), "video": torch.randn(4, 1024)}
    assert head(features, {"imu": None, "video": None}).shape == (4, 27)


@pytest.mark.parametrize("missing_value", ["zeros", "learned"])
def test_a_head_ignores_what_an_absent_modality_holds(missing_value: str) -> None:
    head = ConcatMLP(
        {"imu": 8, "video": 16}, num_classes=5, hidden_dim=12, missing_value=missing_value
    ).eval()
    present = {"imu": torch.tensor([True, False, True]), "video": None}
    features = {"imu": torch.randn(3, 8), "video": torch.randn(3, 16)}
    garbage = {**features, "imu": features["imu"].clone()}
    garbage["imu"][1] = 1e6
    torch.testing.assert_close(head(features, present), head(garbage, present))
    assert hasattr(head, "missing") == (missing_value == "learned")


def test_the_linear_head_takes_the_same_interface() -> None:
    head = LinearHead({"imu": 8}, num_classes=5)
    assert head({"imu": torch.randn(3, 8)}, {"imu": None}).shape == (3, 5)
    with pytest.raises(HarlitError, match="model.head.missing_value"):
        ConcatMLP({"imu": 8}, num_classes=5, missing_value="mean")
