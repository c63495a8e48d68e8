"""Using what a run trained: model.pt, harlit.load_model, harlit.evaluate, harlit.predict, and their errors."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from harlit.bench.generated import write_video
from harlit.config import compose_config
from harlit.errors import HarlitError
from harlit.evaluate import evaluate
from harlit.models.classifier import HARClassifier
from harlit.predict import predict
from harlit.train import train
from harlit.trained import FORMAT, load_model
from tests.conftest import TINY, run_harlit, stage1_both, tiny_stage2
from tests.data_fixtures import TINY_LOADER, UTD_INERTIAL, requires_shared_data

SCORES = ("test/top1", "test/top5", "test/f1_macro", "test/loss")


def eval_cfg(tmp_path: Path, model: Path, *overrides: str, out: str = "eval"):
    return compose_config(
        [
            f"model_path={model}",
            *overrides,
            "trainer.enable_progress_bar=false",
            f"paths.root_dir={tmp_path}",
            f"paths.output_dir={tmp_path / out}",
        ],
        config_name="eval",
    )


def predict_cfg(tmp_path: Path, model: Path, *overrides: str):
    return compose_config(
        [
            f"model_path={model}",
            *overrides,
            f"paths.root_dir={tmp_path}",
            f"paths.output_dir={tmp_path / 'pred'}",
        ],
        config_name="predict",
    )


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def fusion_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A tiny synthetic stage-2 run (it trains its two stage-1 encoders first)."""
    root = tmp_path_factory.mktemp("fusion")
    cfg = compose_config(
        [
            "+experiment=synthetic_stage2",
            *tiny_stage2(),
            f"paths.root_dir={root}",
            f"paths.output_dir={root / 'run'}",
        ]
    )
    return root / "run", train(cfg)


# --- the model file ----------------------------------------------------------------------------------------
def test_every_run_writes_a_self_contained_model_file(fusion_run) -> None:
    run, metrics = fusion_run
    for folder in (run, run / "stage1_imu", run / "stage1_video"):
        payload = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)  # no pickled code
        assert payload["format"] == FORMAT and payload["format_version"] == 1
        assert payload["class_names"] and payload["modalities"]
    payload = torch.load(run / "model.pt", weights_only=True)
    imu, video = payload["preprocessing"]["imu"], payload["preprocessing"]["video"]
    assert (imu["channels"], imu["length"], len(imu["mean"]), len(imu["std"])) == (6, 64, 6, 6)
    assert (video["num_frames"], video["frame_size"], video["resize"]) == (8, 32, "squash")
    assert (
        payload["model_config"]["imu_ckpt"] is None
        and payload["model_config"]["video"]["pretrained"] == "none"
    )
    # The stage-1 encoder files in the registry carry the same record.
    encoder = torch.load(metrics["imu_ckpt"], weights_only=True)
    assert encoder["preprocessing"]["imu"]["mean"] == imu["mean"]


def test_load_model_from_a_file_a_run_dir_or_a_checkpoint(fusion_run) -> None:
    run, _ = fusion_run
    batch = {
        "imu": torch.randn(3, 6, 64),
        "video": torch.randint(0, 256, (3, 3, 8, 32, 32), dtype=torch.uint8),
    }
    models = [load_model(run), load_model(run / "model.pt"), load_model(run / "checkpoints" / "last.ckpt")]
    first = models[0].predict_batch(batch)
    assert first.shape == (3, 12) and torch.allclose(first.sum(dim=1), torch.ones(3))
    for other in models[1:]:
        torch.testing.assert_close(other.predict_batch(batch), first, rtol=0, atol=0)
    assert not models[0].classifier.training
    lightning = HARClassifier.load_from_checkpoint(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert lightning.preprocessing == models[0].preprocessing


# --- harlit.evaluate ---------------------------------------------------------------------------------------
def test_evaluate_reproduces_the_training_runs_test_metrics_exactly(fusion_run, tmp_path) -> None:
    run, trained = fusion_run
    metrics = evaluate(eval_cfg(tmp_path, run))
    for key in SCORES + tuple(k for k in trained if k.startswith("test/f1/")):
        assert metrics[key] == trained[key], key
    out = tmp_path / "eval"
    assert json.loads((out / "confusion_matrix.json").read_text()) == json.loads(
        (run / "confusion_matrix.json").read_text()
    )
    rows = read_rows(out / "predictions.csv")
    assert len(rows) == trained["num_test"]
    assert np.mean([int(r["correct"]) for r in rows]) == pytest.approx(trained["test/top1"])
    assert all(r["predicted_label"] == r["top1_class"] for r in rows) and "top5_prob" in rows[0]


def test_evaluate_with_a_modality_missing_uses_the_models_missing_path(fusion_run, tmp_path) -> None:
    run, _ = fusion_run
    evaluate(eval_cfg(tmp_path, run, "eval.missing=[imu]", "eval.batch_size=5"))
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["missing_at_test"] == ["imu"]
    rows = read_rows(tmp_path / "eval" / "predictions.csv")
    # Same probabilities as the model given no IMU at all (the head's missing-modality value).
    model = load_model(run)
    dm = __import__("harlit.build", fromlist=["build_datamodule"]).build_datamodule(
        compose_config(
            [
                *TINY,
                "+experiment=synthetic_stage2",
                f"paths.root_dir={tmp_path}",
                f"paths.output_dir={tmp_path}",
            ]
        )
    )
    dm.setup("fit")
    first = dm.test_set[0]
    probabilities = model.predict_batch({"video": first["video"].unsqueeze(0)})[0]
    assert rows[0]["id"] == dm.table.ids[first["index"]]
    assert float(rows[0]["top1_prob"]) == pytest.approx(float(probabilities.max()), abs=1e-6)
    with pytest.raises(HarlitError, match="leaves this imu\\+video model no input"):
        evaluate(eval_cfg(tmp_path, run, "eval.missing=[imu,video]", out="both"))
    with pytest.raises(HarlitError, match="eval.missing names 'audio'"):
        evaluate(eval_cfg(tmp_path, run, "eval.missing=[audio]", out="audio"))


def test_evaluate_on_other_test_subjects_through_a_data_override(fusion_run, tmp_path) -> None:
    run, trained = fusion_run
    metrics = evaluate(eval_cfg(tmp_path, run, "++data.num_subjects=4"))
    assert metrics["num_test"] == 2 * trained["num_test"]  # subjects 2 and 4


# --- errors --------------------------------------------------------------------------------------------
def test_bad_model_files_are_one_sentence(tmp_path, fusion_run) -> None:
    run, _ = fusion_run
    with pytest.raises(HarlitError, match="does not exist"):
        load_model(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes((run / "model.pt").read_bytes()[:2000])
    with pytest.raises(HarlitError, match="the model file .*corrupt.pt is unreadable"):
        load_model(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(HarlitError, match="is not a harlit model file"):
        load_model(foreign)
    with pytest.raises(HarlitError, match="holds no model.pt"):
        load_model(tmp_path)
    bad_ckpt = tmp_path / "bad.ckpt"
    bad_ckpt.write_bytes(b"junk")
    with pytest.raises(HarlitError, match="cannot rebuild a harlit model"):
        load_model(bad_ckpt)


def test_bad_inputs_are_one_sentence(tmp_path, fusion_run) -> None:
    run, _ = fusion_run
    model = load_model(run)
    with pytest.raises(HarlitError, match="has 3 IMU channels but the model was trained on 6"):
        model.predict(imu=np.random.randn(100, 3))
    with pytest.raises(HarlitError, match="fewer than the IMU encoder's receptive field of 46"):
        model.predict(imu=np.random.randn(20, 6))
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"\x00" * 512)
    with pytest.raises(HarlitError, match=r"the video .*broken.avi cannot be used"):
        model.predict(video=broken)
    imu_only = load_model(run / "stage1_imu")
    with pytest.raises(HarlitError, match="this model uses imu only; leave out video="):
        imu_only.predict(video=broken, imu=np.random.randn(100, 6))
    with pytest.raises(HarlitError, match="give video=, imu= or both"):
        model.predict()


def test_a_bad_model_on_the_command_line_is_one_line_without_traceback(tmp_path) -> None:
    given = [f"model_path={tmp_path / 'nope'}", f"hydra.run.dir={tmp_path / 'e'}"]
    result = run_harlit(given, tmp_path, timeout=300, module="harlit.evaluate")
    assert result.returncode == 2
    assert "harlit: error: the model" in result.stderr and "Traceback" not in result.stderr


# --- stage 2 normalises like its IMU encoder ------------------------------------------------------------
def test_stage2_normalises_imu_as_its_encoder_was_trained(fusion_run, tmp_path) -> None:
    run, metrics = fusion_run
    payload = torch.load(metrics["imu_ckpt"], weights_only=True)
    payload["preprocessing"]["imu"]["mean"] = [m + 1.0 for m in payload["preprocessing"]["imu"]["mean"]]
    shifted = tmp_path / "shifted.pt"
    torch.save(payload, shifted)
    overrides = [
        "+experiment=synthetic_stage2",
        *tiny_stage2(),
        f"model.imu_ckpt={shifted}",
        f"paths.root_dir={tmp_path}",
    ]
    fused = train(compose_config([*overrides, f"paths.output_dir={tmp_path / 'fused'}"]))
    record = torch.load(fused["model_file"], weights_only=True)["preprocessing"]["imu"]
    assert record["mean"] == pytest.approx(payload["preprocessing"]["imu"]["mean"], rel=1e-6)
    payload["preprocessing"]["imu"]["mean"] = payload["preprocessing"]["imu"]["mean"][:3]
    payload["preprocessing"]["imu"]["std"] = payload["preprocessing"]["imu"]["std"][:3]
    torch.save(payload, shifted)
    with pytest.raises(HarlitError, match="was trained on 3 IMU channels but data.imu_channels gives 6"):
        train(compose_config([*overrides, f"paths.output_dir={tmp_path / 'refused'}"]))


# --- a generated UTD-MHAD tree: the real inertial files with generated clips ------------------------------
UTD_SAMPLES = [f"a{a}_s{s}_t{t}" for a in (1, 2, 3) for s in (1, 2) for t in (1, 2)]


def make_real_utd_tree(root: Path) -> Path:
    """The real inertial files of UTD_SAMPLES with generated clips (skips, or fails in CI, without them)."""
    requires_shared_data(UTD_INERTIAL, "the real UTD-MHAD inertial files")
    for i, sample in enumerate(UTD_SAMPLES):
        inertial = root / "Inertial" / f"{sample}_inertial.mat"
        inertial.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(UTD_INERTIAL / inertial.name, inertial)
        write_video(root / "RGB" / f"{sample}_color.avi", 12, 64, 48, seed=i)
    return root


def utd_overrides(tmp_path: Path, root: Path, experiment: str) -> list[str]:
    tiny = [
        *(f"data.{k}={v}" for k, v in TINY_LOADER.items()),
        "data.batch_size=4",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "logger=none",
    ]
    no_download = ["model.video.pretrained=none"]  # no Kinetics download in tests
    common = [f"+experiment={experiment}", f"data.root={root}", f"paths.root_dir={tmp_path}"]
    if "stage2" in experiment:  # the encoders' settings go to their stage-1 runs
        own = [o for o in tiny if not o.startswith(("data.imu_length", "data.num_frames", "data.frame_size"))]
        return [*common, *own, *stage1_both(tiny, video=no_download)]
    return [*common, *tiny, *([] if experiment.endswith("_imu") else no_download)]


def test_predict_matches_evaluate_on_real_utd_inertial_files(tmp_path) -> None:
    root = make_real_utd_tree(tmp_path / "utd")
    run = tmp_path / "imu_run"
    train(compose_config([*utd_overrides(tmp_path, root, "utd_stage1_imu"), f"paths.output_dir={run}"]))
    evaluate(eval_cfg(tmp_path, run))
    rows = {r["id"]: r for r in read_rows(tmp_path / "eval" / "predictions.csv")}
    model = load_model(run)
    for sample in ("a1_s2_t1", "a3_s2_t2"):
        probabilities = model.predict(imu=root / "Inertial" / f"{sample}_inertial.mat")
        top = model.top_k(probabilities, 5)
        assert rows[sample]["top1_class"] == top[0][0]
        for rank, (name, value) in enumerate(top, start=1):
            assert rows[sample][f"top{rank}_class"] == name
            assert float(rows[sample][f"top{rank}_prob"]) == pytest.approx(value, abs=1e-5)


@pytest.mark.slow
def test_predict_a_utd_fusion_model_pair_and_manifest(tmp_path, capsys) -> None:
    root = make_real_utd_tree(tmp_path / "utd")
    run = tmp_path / "fusion_run"
    train(compose_config([*utd_overrides(tmp_path, root, "utd_stage2"), f"paths.output_dir={run}"]))
    evaluate(eval_cfg(tmp_path, run))
    rows = {r["id"]: r for r in read_rows(tmp_path / "eval" / "predictions.csv")}
    sample = "a2_s2_t1"
    files = {
        "video": root / "RGB" / f"{sample}_color.avi",
        "imu": root / "Inertial" / f"{sample}_inertial.mat",
    }
    assert predict(predict_cfg(tmp_path, run, f"video={files['video']}", f"imu={files['imu']}")) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"1. {rows[sample]['top1_class']}")
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(
        "id,video,imu\n"
        f"{sample},{files['video']},{files['imu']}\n"
        f"video_only,{files['video']},\n"
        f"missing,{root / 'RGB' / 'nope.avi'},{files['imu']}\n"
    )
    code = predict(predict_cfg(tmp_path, run, f"manifest={manifest}", f"out={tmp_path / 'p.csv'}"))
    assert code == 1  # one row failed
    out = read_rows(tmp_path / "p.csv")
    assert [r["status"] for r in out] == ["ok", "ok", "failed"]
    assert out[0]["top1_class"] == rows[sample]["top1_class"]
    assert float(out[0]["top1_prob"]) == pytest.approx(float(rows[sample]["top1_prob"]), abs=1e-5)
    assert out[1]["missing"] == "imu"
    assert out[2]["row"] == "3" and "nope.avi does not exist" in out[2]["error"]


@pytest.mark.parametrize("entry", ["harlit.evaluate", "harlit.predict"])
def test_evaluate_and_predict_read_ordinary_hydra_overrides(tmp_path, entry: str) -> None:
    """No argument rewriting: --cfg job shows the overrides as given; old spellings name their replacement."""

    def run(*args: str) -> subprocess.CompletedProcess:
        return run_harlit(list(args), tmp_path, timeout=300, module=entry)

    shown = run("model_path=/some/run", "+data.root=/data/x", "--cfg", "job")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "model_path: /some/run" in shown.stdout
    if entry == "harlit.evaluate":
        assert "root: /data/x" in shown.stdout
        bare = run("model_path=/some/run", "data.root=/data/x")
        assert bare.returncode == 2 and "write +data.root=/data/x" in bare.stderr
    old = run("model=/some/run")
    assert old.returncode == 2 and "model=/some/run is now model_path=/some/run" in old.stderr
    assert "Traceback" not in old.stderr
    assert run("--help").returncode == 0
