"""Loading a file never runs code from it: each entry point refuses a crafted pickle in one sentence.

The crafted file would create a marker file when unpickled; the marker must never appear.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from harlit.config import compose_config
from harlit.convert import convert, to_plain_data
from harlit.errors import HarlitError
from harlit.evaluate import evaluate
from harlit.predict import predict
from harlit.train import train
from harlit.trained import load_model
from tests.conftest import REPO_ROOT, TINY, run_harlit

REFUSAL = "holds pickled Python objects, which harlit never unpickles"


class CreatesMarker:
    """Unpickling this calls os.system: code run by merely loading the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def evil(tmp_path: Path) -> tuple[Path, Path]:
    """(a .ckpt that would run code, the marker it would create)."""
    marker = tmp_path / "marker"
    path = tmp_path / "checkpoints" / "evil.ckpt"
    path.parent.mkdir()
    torch.save({"state_dict": {}, "pytorch-lightning_version": "2.6.0", "x": CreatesMarker(marker)}, path)
    return path, marker


def test_load_model_refuses_pickled_code(evil) -> None:
    path, marker = evil
    for given in (path, path.with_name("model.pt")):
        if given != path:
            given.write_bytes(path.read_bytes())
        with pytest.raises(HarlitError, match=REFUSAL) as err:
            load_model(given)
        assert "python -m harlit.convert" in str(err.value)
    assert not marker.exists()


def test_evaluate_and_predict_refuse_pickled_code(evil, tmp_path) -> None:
    path, marker = evil
    paths = [f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path / 'out'}"]
    with pytest.raises(HarlitError, match=REFUSAL):
        evaluate(compose_config([f"model_path={path}", *paths], config_name="eval"))
    with pytest.raises(HarlitError, match=REFUSAL):
        predict(compose_config([f"model_path={path}", "imu=x.npy", *paths], config_name="predict"))
    assert not marker.exists()


@pytest.mark.parametrize("modality", ["imu", "video"])
def test_stage2_refuses_a_pickled_encoder_file(make_cfg, evil, modality: str) -> None:
    path, marker = evil
    with pytest.raises(HarlitError, match=REFUSAL):
        train(make_cfg(["+experiment=synthetic_stage2", f"model.{modality}_ckpt={path}"]))
    assert not marker.exists()


def test_ckpt_path_and_resume_refuse_pickled_code(make_cfg, evil, tmp_path) -> None:
    path, marker = evil
    with pytest.raises(HarlitError, match=f"the checkpoint to resume from {re.escape(str(path))} {REFUSAL}"):
        train(make_cfg(["+experiment=synthetic_stage1_imu", f"ckpt_path={path}"]))
    run = tmp_path / "interrupted"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(path.read_bytes())
    with pytest.raises(HarlitError, match=REFUSAL):
        train(make_cfg(["+experiment=synthetic_stage1_imu", "resume=true"], run="interrupted"))
    assert not marker.exists()


def test_pretrained_s3d_weights_refuse_pickled_code(make_cfg, evil) -> None:
    path, marker = evil
    from harlit.build import build_model
    from harlit.models.s3d import kinetics_weights_path

    with pytest.raises(HarlitError, match=f"the S3D state dict .* {REFUSAL}"):
        build_model(make_cfg(["+experiment=synthetic_stage1_video", f"model.video.pretrained={path}"]), 12)
    cached = kinetics_weights_path()  # under this test's TORCH_HOME: a planted download
    cached.parent.mkdir(parents=True)
    cached.write_bytes(path.read_bytes())
    with pytest.raises(HarlitError, match=f"the cached Kinetics-400 S3D weights .* {REFUSAL}"):
        build_model(
            make_cfg(["+experiment=synthetic_stage1_video", "model.video.pretrained=kinetics400"]), 12
        )
    assert not marker.exists()


@pytest.mark.parametrize(
    ("entry", "args"),
    [
        ("harlit.evaluate", ["model_path={path}"]),
        ("harlit.run", ["+experiment=synthetic_stage2", "model.imu_ckpt={path}", *TINY]),
    ],
)
def test_the_command_line_refuses_it_with_exit_code_2(evil, tmp_path, entry: str, args: list[str]) -> None:
    path, marker = evil
    given = [*(a.format(path=path) for a in args), f"hydra.run.dir={tmp_path / 'r'}"]
    result = run_harlit(given, tmp_path, timeout=300, module=entry)
    assert result.returncode == 2 and REFUSAL in result.stderr and "Traceback" not in result.stderr
    assert not marker.exists()


def test_harlit_s_own_checkpoints_load_weights_only_and_resume(make_cfg, tmp_path) -> None:
    """Lightning checkpoints of a harlit run (RNG state included) need no unpickling: resume and the
    checkpoint as a model both work weights-only."""
    stage2 = train(make_cfg(["+experiment=synthetic_stage2"], run="fused"))
    for run in (tmp_path / "fused", tmp_path / "fused" / "stage1_imu"):
        ckpt = run / "checkpoints" / "last.ckpt"
        torch.load(ckpt, map_location="cpu", weights_only=True)
        assert load_model(ckpt).class_names == load_model(run).class_names
    resumed = train(
        make_cfg(["+experiment=synthetic_stage2", "resume=true", "trainer.max_epochs=2"], run="fused")
    )
    assert resumed["test/top1"] >= 0 and stage2["run_dir"] == resumed["run_dir"]


def test_convert_writes_a_weights_only_copy_of_a_trusted_file(tmp_path) -> None:
    from pytorch_lightning.utilities.parsing import AttributeDict

    trusted = tmp_path / "trusted.ckpt"
    torch.save(
        {
            "state_dict": {"w": torch.ones(2)},
            "rng": np.arange(3),
            "seed": np.int64(4),
            "hp": AttributeDict(lr=0.1),
        },
        trusted,
    )
    with pytest.raises(HarlitError, match=REFUSAL):
        load_model(trusted)
    copy = convert(trusted, tmp_path / "copy.ckpt")
    loaded = torch.load(copy, weights_only=True)
    assert torch.equal(loaded["rng"], torch.arange(3)) and loaded["seed"] == 4 and loaded["hp"] == {"lr": 0.1}
    with pytest.raises(HarlitError, match=r"\['x'\] is a pathlib"):
        to_plain_data({"x": Path("a")})
    with pytest.raises(HarlitError, match="exists already"):
        convert(trusted, copy)


def test_the_package_has_no_unsafe_load() -> None:
    """torch.load only weights-only (convert's one knowing load aside), no pickle or unsafe yaml/numpy loads."""
    unsafe = re.compile(
        r"weights_only\s*=\s*False|allow_pickle\s*=\s*True|pickle\.loads?\(|yaml\.load\(|yaml\.unsafe_load|"
        r"torch\.load\((?![^)]*weights_only\s*=\s*True)|"
        r"(get_state_dict|load_state_dict_from_url|load_from_checkpoint)\((?![^)]*weights_only\s*=\s*True)"
    )
    found = []
    for path in sorted((REPO_ROOT / "harlit").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("#", 1)[0]
            if unsafe.search(code) and not code.lstrip().startswith(("`", '"')):
                found.append(f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}")
    allowed = ["harlit/convert.py"]
    assert [f for f in found if not f.startswith(tuple(allowed))] == [], found
    assert any(f.startswith("harlit/convert.py") for f in found)  # the grep does see an unsafe load


@pytest.mark.parametrize("content", [b"not a checkpoint", b"junk", b""])
def test_a_damaged_file_is_unreadable_not_pickled_code(tmp_path, content: bytes) -> None:
    from harlit.safe_load import load_weights_only

    damaged = tmp_path / "damaged.ckpt"
    damaged.write_bytes(content)
    with pytest.raises(HarlitError, match=f"the file {re.escape(str(damaged))} is unreadable"):
        load_weights_only(damaged, "the file")
