"""A trained model on the recordings people bring: a folder of test subjects only, recordings longer than
the training length, and MMAct recordings as their four raw sensor CSVs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from harlit.bench.generated import SENSOR_FOLDERS, make_mmact_tree
from harlit.config import compose_config
from harlit.data.utd_mhad import read_inertial
from harlit.errors import HarlitError
from harlit.evaluate import evaluate
from harlit.predict import predict
from harlit.train import train
from harlit.trained import load_model
from tests.test_use_trained import (
    SCORES,
    eval_cfg,
    make_real_utd_tree,
    predict_cfg,
    read_rows,
    utd_overrides,
)


def assert_same_prediction(row: dict[str, str], top: list[tuple[str, float]]) -> None:
    """A predictions.csv row of harlit.evaluate holds exactly `top`, the prediction of harlit.predict."""
    for rank, (name, value) in enumerate(top, start=1):
        assert row[f"top{rank}_class"] == name, (rank, row)
        assert float(row[f"top{rank}_prob"]) == pytest.approx(value, abs=2e-6)


def copy_subjects(root: Path, out: Path, subjects: set[int]) -> Path:
    for path in root.rglob("a*_s*_t*_*"):
        if int(path.name.split("_")[1][1:]) in subjects:
            target = out / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    return out


# --- 1. evaluate reads only the split it evaluates ----------------------------------------------------------
def test_evaluate_on_a_folder_of_test_subjects_only_gives_the_training_metrics(tmp_path) -> None:
    root = make_real_utd_tree(tmp_path / "utd")  # subject 1 trains, subject 2 tests
    run = tmp_path / "run"
    trained = train(
        compose_config([*utd_overrides(tmp_path, root, "utd_stage1_imu"), f"paths.output_dir={run}"])
    )
    test_only = copy_subjects(root, tmp_path / "test_only", {2})
    # A damaged training file beside them: never read, so it blocks nothing.
    (test_only / "Inertial" / "a1_s1_t1_inertial.mat").write_bytes(b"not a mat file")
    metrics = evaluate(eval_cfg(tmp_path, run, f"+data.root={test_only}"))
    for key in SCORES:
        assert metrics[key] == trained[key], key
    assert (metrics["num_test"], metrics["num_train"], metrics["bad_samples"]) == (trained["num_test"], 0, 0)
    assert not (tmp_path / "eval" / "bad_samples.txt").exists()


def test_a_manifest_of_test_rows_only_is_evaluated(tmp_path) -> None:
    root = make_real_utd_tree(tmp_path / "utd")
    run = tmp_path / "run"
    train(compose_config([*utd_overrides(tmp_path, root, "utd_stage1_imu"), f"paths.output_dir={run}"]))
    evaluate(eval_cfg(tmp_path, run, out="on_tree"))
    expected = {r["id"]: r for r in read_rows(tmp_path / "on_tree" / "predictions.csv")}
    manifest = tmp_path / "test_rows.csv"
    lines = ["id,video,imu,label,subject,split"]
    names = load_model(run).class_names
    for sample in sorted(expected):  # the manifest format takes .npy or .csv recordings
        action = int(sample.split("_")[0][1:])
        np.save(tmp_path / f"{sample}.npy", read_inertial(root / "Inertial" / f"{sample}_inertial.mat"))
        lines.append(f"{sample},,{sample}.npy,{names[action - 1]},2,test")
    manifest.write_text("\n".join(lines) + "\n")
    data = ["data=manifest", f"data.manifest={manifest}", "data.imu_channels=6", f"data.class_names={names}"]
    metrics = evaluate(eval_cfg(tmp_path, run, *data, out="on_manifest"))
    assert metrics["num_test"] == len(expected)
    for row in read_rows(tmp_path / "on_manifest" / "predictions.csv"):
        assert row["top1_class"] == expected[row["id"]]["top1_class"]
        assert row["top1_prob"] == expected[row["id"]]["top1_prob"]


def test_a_test_only_datamodule_refuses_to_test_without_a_models_statistics(tmp_path) -> None:
    from harlit.data.utd_mhad import UTDMHADDataModule

    root = make_real_utd_tree(tmp_path / "utd")
    datamodule = UTDMHADDataModule(root=str(root), modalities=["imu"], imu_length=64)
    datamodule.setup("test")
    assert datamodule.train_set is None and len(datamodule.test_set) == 6
    with pytest.raises(HarlitError, match="without the training IMU statistics"):
        datamodule.test_dataloader()


# --- 2. one rule for a native-rate, zero-padded model ---------------------------------------------------------
def test_evaluate_and_predict_prepare_native_rate_recordings_alike(tmp_path) -> None:
    root = make_real_utd_tree(tmp_path / "utd")
    run = tmp_path / "paper"
    paper = [o for o in utd_overrides(tmp_path, root, "utd_stage1_imu_paper") if "model.video" not in o]
    overrides = [*paper, "data.imu_length=null"]
    train(compose_config([*overrides, f"paths.output_dir={run}"]))
    model = load_model(run)
    length = model.preprocessing["imu"]["length"]
    assert model.preprocessing["imu"]["longer"] == "central samples"
    # Test recordings shorter than the training length, and one longer (two recordings end to end).
    data = copy_subjects(root, tmp_path / "eval_data", {2})
    joined = np.concatenate([read_inertial(p) for p in sorted((root / "Inertial").glob("a1_s*_t1_*"))])
    assert len(joined) > length
    scipy.io.savemat(data / "Inertial" / "a1_s2_t3_inertial.mat", {"d_iner": joined})
    metrics = evaluate(eval_cfg(tmp_path, run, f"+data.root={data}"))
    assert metrics["imu_cut_to_trained_length"] == 1
    rows = {r["id"]: r for r in read_rows(tmp_path / "eval" / "predictions.csv")}
    assert len(rows) == 7
    for path in sorted((data / "Inertial").glob("*.mat")):
        sample = path.name.removesuffix("_inertial.mat")
        assert_same_prediction(rows[sample], model.top_k(model.predict(imu=path), 5))


# --- 3. MMAct recordings as their raw sensor CSVs ---------------------------------------------------------
@pytest.fixture(scope="module")
def mmact_imu_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("mmact")
    root = base / "mmact"
    make_mmact_tree(root)
    run = base / "run"
    overrides = [
        "+experiment=mmact_stage1_imu",
        f"data.root={root}",
        "data.imu_length=64",
        "data.batch_size=4",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "logger=none",
        f"paths.root_dir={base}",
        f"paths.output_dir={run}",
    ]
    train(compose_config(overrides))
    return root, run


def test_predict_reads_an_mmact_recording_as_its_four_sensor_csvs(mmact_imu_run, tmp_path) -> None:
    root, run = mmact_imu_run
    evaluate(eval_cfg(tmp_path, run))
    rows = {r["id"]: r for r in read_rows(tmp_path / "eval" / "predictions.csv")}
    model = load_model(run)
    assert model.preprocessing["imu"]["sensor_rate"] == 50.0
    recording = Path("subject17") / "scene1" / "session1" / "walking.csv"
    files = [root / "Sensor_trimmed" / folder / recording for folder in SENSOR_FOLDERS.values()]
    expected = rows["subject17_scene1_session1_walking"]
    assert_same_prediction(expected, model.top_k(model.predict(imu=files[::-1]), 5))  # any order
    # A folder holding one recording, its files named after their sensors.
    folder = tmp_path / "one_recording"
    folder.mkdir()
    for sensor, path in zip(SENSOR_FOLDERS, files, strict=True):
        shutil.copy(path, folder / f"{sensor}.csv")
    assert_same_prediction(expected, model.top_k(model.predict(imu=folder), 5))
    # The command line: imu=[four files].
    listed = ",".join(str(p) for p in files)
    assert predict(predict_cfg(tmp_path, run, f"imu=[{listed}]")) == 0


def test_an_incomplete_mmact_recording_is_one_sentence(mmact_imu_run, tmp_path) -> None:
    root, run = mmact_imu_run
    model = load_model(run)
    folder = tmp_path / "three_sensors"
    folder.mkdir()
    for sensor in ("acc_phone", "acc_watch", "gyro"):
        source = root / "Sensor_trimmed" / SENSOR_FOLDERS[sensor] / "subject17/scene1/session1/walking.csv"
        shutil.copy(source, folder / f"{sensor}.csv")
    with pytest.raises(HarlitError, match="hold no orientation sensor CSV"):
        model.predict(imu=folder)
    shutil.copy(folder / "gyro.csv", folder / "orientation.csv")
    (folder / "extra").mkdir()
    shutil.copy(folder / "gyro.csv", folder / "extra" / "gyro.csv")
    with pytest.raises(HarlitError, match="more than one gyro CSV"):
        model.predict(imu=folder)
