"""The IMU encoders besides imu_cnn (model/imu_encoder=NAME): shapes, user errors, and the whole path from
a stage-1 run through stage 2, the registry, model.pt, harlit.predict and DDP."""

from __future__ import annotations

import copy
import functools
import inspect
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from harlit.config import compose_config, instantiate
from harlit.encoder_file import EncoderFile
from harlit.errors import HarlitError
from harlit.models.deepconvlstm import DeepConvLSTM
from harlit.models.imu_resnet import ResNet1dEncoder
from harlit.models.imu_transformer import ConvTransformerEncoder
from harlit.stage1 import key_of, stage1_config
from harlit.train import train
from harlit.trained import load_model
from tests.conftest import TINY, run_harlit, tiny_stage2

# model/imu_encoder=NAME -> the class it builds and its feature width with the defaults.
ENCODERS = {
    "resnet1d": (ResNet1dEncoder, 128),
    "deepconvlstm": (DeepConvLSTM, 128),
    "conv_transformer": (ConvTransformerEncoder, 64),
}
NAMES = list(ENCODERS)


@functools.cache
def composed(name: str, overrides: tuple[str, ...]) -> dict:
    cfg = compose_config(
        ["+experiment=synthetic_stage1_imu", f"model/imu_encoder={name}", *overrides],
        return_hydra_config=False,
    )
    return OmegaConf.to_container(cfg.model.imu, resolve=True)


def encoder_config(name: str, *overrides: str) -> dict:
    """The encoder's resolved config as a stage-1 command line composes it (6 channels)."""
    return copy.deepcopy(composed(name, overrides))  # composed once per test module


def built(name: str, *overrides: str) -> nn.Module:
    return instantiate(encoder_config(name, *overrides), _convert_="all")


def one_sentence(err: pytest.ExceptionInfo[HarlitError]) -> str:
    message = str(err.value)
    assert "\n" not in message and message.endswith("."), message
    return message


# --- each encoder alone ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_the_config_builds_the_encoder_with_every_default_listed(name: str) -> None:
    cls, out_dim = ENCODERS[name]
    node = encoder_config(name)
    assert node.pop("_target_") == f"{cls.__module__}.{cls.__qualname__}"
    defaults = {k: p.default for k, p in inspect.signature(cls).parameters.items()}
    assert set(node) == set(defaults), "the yaml lists every constructor argument, and only those"
    for key, value in node.items():
        default = defaults[key]
        assert value == (list(default) if isinstance(default, tuple) else default), key
    encoder = built(name)
    assert isinstance(encoder, cls) and encoder.out_dim == out_dim and encoder.in_channels == 6


@pytest.mark.parametrize(
    "experiment", ["utd_stage1_imu", "utd_stage1_imu_paper", "mmact_stage1_imu_paper", "utd_stage2"]
)
def test_the_choice_on_top_of_an_experiment_gets_the_encoder_s_own_defaults(experiment: str) -> None:
    """The UTD experiment's BatchNorm comes with its choice of imu_cnn_bn, not as a model.imu.norm key that
    another encoder would be handed (and refuse)."""
    cfg = compose_config(
        [f"+experiment={experiment}", "model/imu_encoder=resnet1d"], return_hydra_config=False
    )
    node = OmegaConf.to_container(cfg.model.imu, resolve=True)
    assert node.pop("in_channels") == cfg.data.imu_channels
    assert node == {k: v for k, v in encoder_config("resnet1d").items() if k != "in_channels"}
    plain = compose_config([f"+experiment={experiment}"], return_hydra_config=False)
    assert plain.model.imu.norm == ("batch" if experiment == "utd_stage1_imu" else "none")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("length", [None, 64, 97])  # None: exactly the receptive field
def test_forward_gives_one_feature_vector_per_sample(name: str, length: int | None) -> None:
    encoder = built(name)
    time = length or encoder.receptive_field
    features = encoder(torch.randn(3, 6, time))
    assert features.shape == (3, encoder.out_dim) and torch.isfinite(features).all()


@pytest.mark.parametrize("name", NAMES)
def test_a_wrongly_shaped_input_is_one_sentence(name: str) -> None:
    encoder = built(name)
    for shape in [(3, 5, 64), (6, 64)]:
        with pytest.raises(HarlitError) as err:
            encoder(torch.randn(*shape))
        assert "model.imu.in_channels" in one_sentence(err) and str(shape) in str(err.value)


@pytest.mark.parametrize("name", NAMES)
def test_a_sequence_shorter_than_the_receptive_field_is_one_sentence(name: str) -> None:
    encoder = built(name)
    short = encoder.receptive_field - 1
    with pytest.raises(HarlitError) as err:
        encoder(torch.randn(2, 6, short))
    message = one_sentence(err)
    assert f"{short} samples" in message and f"receptive field of {encoder.receptive_field}" in message
    assert "data.imu_length" in message and "model.imu.kernel_size" in message


def convolutional_part(name: str, encoder: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    if name == "resnet1d":
        return lambda imu: encoder.stages(encoder.stem(imu))
    return encoder.convolutions if name == "deepconvlstm" else encoder.front


@pytest.mark.parametrize(
    ("name", "expected"), [("resnet1d", 51), ("deepconvlstm", 17), ("conv_transformer", 5)]
)
def test_the_receptive_field_is_that_of_the_convolutions(name: str, expected: int) -> None:
    """harlit.predict and timelines refuse recordings by `receptive_field`: it must be the real one."""
    encoder = built(name).eval()
    assert encoder.receptive_field == expected
    imu = torch.randn(1, 6, 301, requires_grad=True)
    maps = convolutional_part(name, encoder)(imu)
    maps[0, :, maps.shape[-1] // 2].sum().backward()  # one position, away from the padded ends
    reached = imu.grad.abs().sum(dim=1)[0].nonzero().flatten()
    assert int(reached.max() - reached.min()) + 1 == expected


def test_deepconvlstm_s_feature_is_the_last_step_s_hidden_state() -> None:
    encoder = built("deepconvlstm").eval()
    imu = torch.randn(2, 6, 40)
    with torch.no_grad():
        _, (hidden, _) = encoder.lstm(encoder.convolutions(imu).transpose(1, 2))
        torch.testing.assert_close(encoder(imu), hidden[-1])
        # ... of the top layer, over (40 - 16) steps: the unpadded convolutions shorten the sequence.
        assert encoder.convolutions(imu).shape == (2, 64, 24) and hidden.shape == (2, 2, 128)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
@pytest.mark.parametrize("positional", ["sinusoidal", "learned"])
def test_conv_transformer_options(pooling: str, positional: str) -> None:
    encoder = built(
        "conv_transformer",
        f"model.imu.pooling={pooling}",
        f"model.imu.positional={positional}",
        "model.imu.max_length=100",
    )
    assert encoder(torch.randn(2, 6, 100)).shape == (2, 64)
    assert (encoder.cls_token is not None) == (pooling == "cls")
    assert (encoder.position is not None) == (positional == "learned")
    if positional == "learned":
        with pytest.raises(HarlitError) as err:
            encoder(torch.randn(2, 6, 101))
        assert "model.imu.max_length" in one_sentence(err)
    else:
        assert encoder(torch.randn(2, 6, 101)).shape == (2, 64)  # no length limit


def test_conv_transformer_sees_the_order_of_time_steps() -> None:
    """Without the positional encoding, mean pooling over attention would not change when time reverses."""
    encoder = built("conv_transformer", "model.imu.conv_layers=1", "model.imu.kernel_size=1").eval()
    imu = torch.randn(1, 6, 32)
    with torch.no_grad():
        assert not torch.allclose(encoder(imu), encoder(imu.flip(-1)), atol=1e-4)


@pytest.mark.parametrize(
    ("cls", "arguments", "names"),
    [
        (ResNet1dEncoder, {"widths": [64, 128], "blocks": [1, 1, 1]}, "model.imu.widths"),
        (ResNet1dEncoder, {"widths": []}, "model.imu.widths"),
        (ResNet1dEncoder, {"blocks": [1, 0, 1]}, "model.imu.blocks"),
        (ResNet1dEncoder, {"kernel_size": 4}, "model.imu.kernel_size"),
        (ResNet1dEncoder, {"stem_kernel_size": 0}, "model.imu.stem_kernel_size"),
        (DeepConvLSTM, {"conv_layers": 0}, "model.imu.conv_layers"),
        (DeepConvLSTM, {"lstm_hidden": 12.5}, "model.imu.lstm_hidden"),
        (DeepConvLSTM, {"dropout": 1.0}, "model.imu.dropout"),
        (ConvTransformerEncoder, {"nhead": 3}, "model.imu.d_model"),
        (ConvTransformerEncoder, {"kernel_size": 2}, "model.imu.kernel_size"),
        (ConvTransformerEncoder, {"pooling": "max"}, "model.imu.pooling"),
        (ConvTransformerEncoder, {"positional": "rotary"}, "model.imu.positional"),
        (ConvTransformerEncoder, {"in_channels": 0}, "model.imu.in_channels"),
    ],
)
def test_bad_constructor_arguments_are_one_sentence(cls: type, arguments: dict, names: str) -> None:
    with pytest.raises(HarlitError) as err:
        cls(**arguments)
    assert names in one_sentence(err)


# --- through the real config: stage 1, the registry, stage 2, model.pt, predict ---------------------------
@pytest.fixture(scope="module")
def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One registry for the module: stage 2 finds the stage-1 runs below, and trains its video encoder once."""
    return tmp_path_factory.mktemp("imu_encoders")


def tiny_cfg(root: Path, run: str, overrides: list[str], stage1_imu: list[str] | None = None):
    """As conftest's make_cfg, with a registry shared by the module's runs."""
    paths = [f"paths.root_dir={root}", f"paths.output_dir={root / run}"]
    if stage1_imu is None:
        return compose_config([*TINY, *overrides, *paths])
    return compose_config([*tiny_stage2({"imu": stage1_imu}), *overrides, *paths])


@pytest.fixture(scope="module")
def stage1_runs(shared_root: Path) -> Callable[[str], tuple[Path, dict]]:
    """NAME -> (run folder, metrics) of a tiny synthetic stage-1 IMU run with model/imu_encoder=NAME, trained
    once for the module."""
    runs: dict[str, tuple[Path, dict]] = {}

    def run(name: str) -> tuple[Path, dict]:
        if name not in runs:
            overrides = ["+experiment=synthetic_stage1_imu", f"model/imu_encoder={name}"]
            runs[name] = (
                shared_root / f"stage1_{name}",
                train(tiny_cfg(shared_root, f"stage1_{name}", overrides)),
            )
        return runs[name]

    return run


@pytest.mark.parametrize("name", NAMES)
def test_stage1_trains_the_chosen_encoder(stage1_runs, name: str) -> None:
    run, metrics = stage1_runs(name)
    written = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= written["test/top1"] <= 1.0 and written["test/top1"] == metrics["test/top1"]
    encoder = EncoderFile.load(metrics["imu_encoder"], "imu")
    cls = ENCODERS[name][0]
    assert encoder.encoder_config["_target_"] == f"{cls.__module__}.{cls.__qualname__}"
    assert encoder.state_dict.keys() == cls(in_channels=6).state_dict().keys()


@pytest.mark.parametrize("name", NAMES)
def test_stage2_builds_the_encoder_its_stage1_run_trained(stage1_runs, shared_root: Path, name: str) -> None:
    _, stage1 = stage1_runs(name)
    cfg = tiny_cfg(
        shared_root,
        f"stage2_{name}",
        ["+experiment=synthetic_stage2"],
        stage1_imu=[f"model/imu_encoder={name}"],
    )
    fused = train(cfg)
    assert fused["imu_ckpt"] == stage1["imu_encoder"]  # found in the registry by its key, not retrained
    model = load_model(shared_root / f"stage2_{name}")
    cls, out_dim = ENCODERS[name]
    assert type(model.classifier.encoders["imu"]) is cls
    assert model.classifier.head.feature_dims == {"imu": out_dim, "video": 1024}
    assert (
        0.0 <= json.loads((shared_root / f"stage2_{name}" / "metrics.json").read_text())["test/top1"] <= 1.0
    )


@pytest.mark.parametrize("experiment", ["synthetic_stage2", "utd_stage2"])
def test_a_choice_on_a_stage2_command_line_reaches_its_stage1_run(make_cfg, experiment: str) -> None:
    cfg = make_cfg([f"+experiment={experiment}", "model/imu_encoder=deepconvlstm"], tiny=False)
    imu = OmegaConf.to_container(stage1_config(cfg, "imu").model.imu, resolve=True)
    assert imu == encoder_config("deepconvlstm")  # utd_stage1_imu's imu_cnn_bn does not leak its norm key


def test_the_encoder_choice_is_in_the_registry_key(make_cfg) -> None:
    def key(*overrides: str) -> dict:
        return key_of(make_cfg(["+experiment=synthetic_stage1_imu", *overrides]), "imu")

    default, resnet, lstm = key(), key("model/imu_encoder=resnet1d"), key("model/imu_encoder=deepconvlstm")
    assert len({json.dumps(k, sort_keys=True) for k in (default, resnet, lstm)}) == 3
    assert resnet["config"]["model"]["imu"]["_target_"] == "harlit.models.imu_resnet.ResNet1dEncoder"
    assert key("model/imu_encoder=resnet1d", "model.imu.blocks=[2,2,2]") != resnet


def test_a_model_file_round_trip_through_load_model_and_harlit_predict(stage1_runs, tmp_path: Path) -> None:
    run, _ = stage1_runs("deepconvlstm")
    model = load_model(run / "model.pt")
    assert type(model.classifier.encoders["imu"]) is DeepConvLSTM
    recording = tmp_path / "recording.npy"
    np.save(recording, np.random.default_rng(0).normal(size=(90, 6)).astype(np.float32))
    expected = model.top_k(model.predict(imu=recording), 3)
    result = run_harlit(
        [f"model_path={run}", f"imu={recording}", "top_k=3", f"hydra.run.dir={tmp_path / 'pred'}"],
        tmp_path,
        timeout=300,
        module="harlit.predict",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    printed = [line.split() for line in result.stdout.splitlines() if line[:2] in ("1.", "2.", "3.")]
    assert [(row[1], float(row[2])) for row in printed] == [
        (n, pytest.approx(p, abs=1e-4)) for n, p in expected
    ]
    with pytest.raises(HarlitError, match="fewer than the IMU encoder's receptive field of 17"):
        model.predict(imu=np.zeros((16, 6)))


@pytest.mark.slow
def test_two_process_cpu_ddp_with_a_non_default_imu_encoder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = [
        "+experiment=synthetic_stage1_imu",
        *TINY,
        "model/imu_encoder=conv_transformer",
        "data.batch_size=4",
        "trainer=ddp_cpu",
        f"hydra.run.dir={run}",
    ]
    result = run_harlit(args, tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "MEMBER: 2/2" in result.stdout + result.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["num_test"] == 12 and 0.0 <= metrics["test/top1"] <= 1.0
    assert type(load_model(run).classifier.encoders["imu"]) is ConvTransformerEncoder
