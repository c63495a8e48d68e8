"""Bring-your-own data: the CSV manifest, its IMU formats, splits, bad samples, a stage end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harlit.bench.generated import write_video
from harlit.config import compose_config
from harlit.data.manifest import ManifestDataModule, read_imu_file
from harlit.errors import HarlitError
from harlit.train import train
from tests.data_fixtures import TINY_LOADER


def make_manifest(root: Path, split_column: bool = True) -> Path:
    """Two labels x two subjects x two takes; IMU alternately .csv (with a header) and .npy."""
    rows = ["video,imu,label,subject" + (",split" if split_column else "")]
    rng = np.random.default_rng(0)
    for subject in (1, 2):
        for k, label in enumerate(("open_door", "drink")):
            for take in range(2):
                stem = f"s{subject}_{label}_{take}"
                write_video(root / "clips" / f"{stem}.mp4", 9, 40, 30, seed=subject * 10 + k * 2 + take)
                imu = np.sin(np.linspace(0, 3 + k, 90))[:, None] * np.ones(6) + rng.normal(0, 0.05, (90, 6))
                if take == 0:
                    imu_path = root / "imu" / f"{stem}.csv"
                    imu_path.parent.mkdir(parents=True, exist_ok=True)
                    np.savetxt(imu_path, imu, delimiter=",", header="ax,ay,az,gx,gy,gz", comments="")
                else:
                    imu_path = root / "imu" / f"{stem}.npy"
                    np.save(imu_path, imu)
                split = ",train" if subject == 1 else ",test"
                rows.append(
                    f"clips/{stem}.mp4,{imu_path.relative_to(root)},{label},{subject}"
                    + (split if split_column else "")
                )
    manifest = root / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


def manifest_dm(manifest: Path, modalities=("imu", "video"), **kwargs) -> ManifestDataModule:
    kwargs = {"imu_channels": 6, **TINY_LOADER, **kwargs}
    return ManifestDataModule(
        manifest=str(manifest), modalities=modalities, cache_dir=str(manifest.parent / "cache"), **kwargs
    )


def test_manifest_rows_become_samples(tmp_path: Path) -> None:
    dm = manifest_dm(make_manifest(tmp_path / "data"))
    dm.setup("fit")
    assert dm.class_names == ["drink", "open_door"]
    assert (len(dm.train_set), len(dm.test_set)) == (4, 4)
    assert set(dm.table.subjects[dm.test_set.indices]) == {2}
    assert dm.table.imu.shape == (8, 6, 64) and dm.table.video[0].shape == (3, 8, 32, 32)
    # .csv (header skipped) and .npy read the same way.
    csv_file = next((tmp_path / "data" / "imu").glob("*.csv"))
    assert read_imu_file(csv_file).shape == (90, 6)


def test_without_split_column_test_subjects_decide(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path / "data", split_column=False)
    with pytest.raises(HarlitError, match="no split column and data.test_subjects is empty"):
        manifest_dm(manifest)
    dm = manifest_dm(manifest, ("imu",), test_subjects=[1], class_names=["open_door", "drink"])
    dm.setup("fit")
    assert set(dm.table.subjects[dm.test_set.indices]) == {1} and dm.class_names[0] == "open_door"


def test_splits_that_come_out_empty_name_what_decides_them(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path / "data")
    with pytest.raises(HarlitError) as err:
        manifest_dm(manifest, ("imu",), val_subjects=[1]).setup("fit")
    assert str(err.value) == (
        f"the manifest training split is empty; change the split column of {manifest} or data.val_subjects=[1]."
    )
    without = make_manifest(tmp_path / "plain", split_column=False)
    with pytest.raises(HarlitError) as err:
        manifest_dm(without, ("imu",), test_subjects=[3]).setup("fit")
    assert str(err.value) == (
        "the manifest test split is empty; change data.test_subjects=[3] (the samples have subjects [1, 2])."
    )


def test_manifest_format_errors(tmp_path: Path) -> None:
    with pytest.raises(HarlitError, match="needs data.manifest"):
        ManifestDataModule(manifest=None)
    with pytest.raises(HarlitError, match="does not exist"):
        ManifestDataModule(manifest=str(tmp_path / "nope.csv"))
    bad = tmp_path / "bad.csv"
    bad.write_text("video,label\nx.mp4,a\n")
    with pytest.raises(HarlitError, match=r"lacks the column\(s\) \['imu', 'subject'\]"):
        ManifestDataModule(manifest=str(bad))
    bad.write_text("video,imu,label,subject,split\nx.mp4,x.npy,a,1,val\n")
    with pytest.raises(HarlitError, match="line 2: split 'val' is not train or test"):
        ManifestDataModule(manifest=str(bad))


def test_bad_samples_in_a_manifest(tmp_path: Path) -> None:
    root = tmp_path / "data"
    manifest = make_manifest(root)
    (root / "imu" / "empty.csv").write_bytes(b"")
    nan = np.ones((50, 6))
    nan[3, 1] = np.nan
    np.save(root / "imu" / "nan.npy", nan)
    (root / "clips" / "broken.mp4").write_bytes(b"not a video at all" * 20)
    with open(manifest, "a") as handle:
        handle.write("clips/s1_drink_0.mp4,imu/empty.csv,drink,1,train\n")
        handle.write("clips/s1_drink_0.mp4,imu/nan.npy,drink,1,train\n")
        handle.write(",imu/s1_drink_1.npy,drink,1,train\n")
        handle.write("clips/broken.mp4,imu/s1_drink_1.npy,drink,1,train\n")
        handle.write("clips/gone.mp4,imu/s1_drink_1.npy,drink,1,train\n")
    with pytest.raises(HarlitError) as err:
        manifest_dm(manifest).setup("fit")
    message = str(err.value)
    assert message.startswith("5 bad manifest sample(s)")
    for expected in (
        "empty.csv: empty CSV: 0 bytes",
        "nan.npy: NaN values: 1 non-finite",
        "missing modality: no video path on line 12",
        "broken.mp4: undecodable video",
        "gone.mp4: missing file",
    ):
        assert expected in message
    dm = manifest_dm(manifest, on_bad_sample="skip", report_dir=str(tmp_path / "run"))
    dm.setup("fit")
    assert len(dm.table) == 8 and dm.dropped["bad_samples"] == 5
    text = (tmp_path / "run" / "bad_samples.txt").read_text()
    assert "# 5 bad manifest sample file(s) skipped" in text and "# 1\tundecodable video" in text


def test_imu_channel_count_must_match(tmp_path: Path) -> None:
    with pytest.raises(HarlitError, match="set data.imu_channels=6"):
        manifest_dm(make_manifest(tmp_path / "data"), ("imu",), imu_channels=3).setup("fit")


def test_stage1_imu_from_a_manifest_end_to_end(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path / "data")
    cfg = compose_config(
        [
            "+experiment=synthetic_stage1_imu",
            "data=manifest",
            f"data.manifest={manifest}",
            "data.imu_length=64",
            f"paths.root_dir={tmp_path}",
            f"paths.output_dir={tmp_path / 'run'}",
            "trainer.max_epochs=1",
            "logger=none",
            "trainer.enable_progress_bar=false",
        ]
    )
    metrics = train(cfg)
    assert metrics["dataset"] == "manifest" and metrics["num_train"] == 4 and metrics["num_test"] == 4
