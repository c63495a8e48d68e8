"""Validation that cannot silently go wrong: validation subjects that are not training subjects are one
sentence naming the training subjects, for every dataset; metrics.json records which epoch was tested
and the validation metrics of that epoch; a monitor without validation data is one sentence."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from harlit.bench.generated import make_mmact_tree, make_utd_tree
from harlit.config import instantiate
from harlit.data.mmact import MMActDataModule
from harlit.data.utd_mhad import UTDMHADDataModule
from harlit.errors import HarlitError
from harlit.train import train, validate
from tests.data_fixtures import TINY_LOADER
from tests.test_data_manifest import make_manifest, manifest_dm


def _utd(tmp_path: Path, val: list[int]) -> UTDMHADDataModule:
    root = tmp_path / "utd"
    make_utd_tree(root, subjects=(1, 2, 3, 4), with_video=False)
    # Subjects 1 and 3 train, 2 and 4 test, as in the dataset's own protocol.
    return UTDMHADDataModule(
        root=str(root), modalities=["imu"], imu_channels=6, val_subjects=val, **TINY_LOADER
    )


def _mmact(tmp_path: Path, val: list[int]) -> MMActDataModule:
    root = tmp_path / "mmact"
    make_mmact_tree(root)  # subjects 1 and 2 train, 17 tests
    return MMActDataModule(
        root=str(root), modalities=["imu"], imu_channels=12, val_subjects=val, **TINY_LOADER
    )


def _synthetic(make_cfg, val: list[int]):
    cfg = make_cfg(["data.num_subjects=4", "data.repetitions=1", f"data.val_subjects={val}"], tiny=False)
    return instantiate(cfg.data, modalities=["imu"])


def _manifest(tmp_path: Path, val: list[int]):
    return manifest_dm(make_manifest(tmp_path / "data"), ("imu",), val_subjects=val)  # subject 1 trains


@pytest.mark.parametrize(
    "dataset, mistyped, training",
    [
        ("synthetic", [5], [1, 3]),  # no such subject
        ("synthetic", [2], [1, 3]),  # a test subject
        ("utd_mhad", [5], [1, 3]),
        ("mmact", [3], [1, 2]),
        ("mmact", [17], [1, 2]),  # a test subject
        ("manifest", [2], [1]),  # a test subject by the split column
    ],
)
def test_validation_subjects_must_be_training_subjects(
    tmp_path: Path, make_cfg, dataset: str, mistyped: list[int], training: list[int]
) -> None:
    build = {
        "synthetic": lambda val: _synthetic(make_cfg, val),
        "utd_mhad": lambda val: _utd(tmp_path, val),
        "mmact": lambda val: _mmact(tmp_path, val),
        "manifest": lambda val: _manifest(tmp_path, val),
    }[dataset]
    with pytest.raises(HarlitError) as err:
        build(mistyped).setup("fit")
    assert str(err.value) == (
        f"data.val_subjects {mistyped} are not training subjects of this {dataset} split, so they give no "
        f"validation data; choose them among the training subjects {training}."
    )


def test_good_validation_subjects_validate_and_are_recorded(tmp_path: Path, make_cfg) -> None:
    dm = _mmact(tmp_path, [2])
    dm.setup("fit")
    assert set(dm.table.subjects[dm.val_set.indices]) == {2}
    described = dm.describe()
    assert (described["protocol"], described["val_subjects"]) == ("cross_subject", [2])
    assert described["train_subjects"] == list(range(1, 17)) and described["test_subjects"] == [
        17,
        18,
        19,
        20,
    ]
    synthetic = _synthetic(make_cfg, [3])
    synthetic.setup("fit")
    assert {k: synthetic.describe()[k] for k in ("train_subjects", "val_subjects", "test_subjects")} == {
        "train_subjects": [1, 3],
        "val_subjects": [3],
        "test_subjects": [2, 4],
    }


def _epochs(run: Path) -> dict[int, dict[str, float]]:
    """The validation metrics of every epoch, as the CSV logger wrote them in fitting."""
    with (run / "csv" / "metrics.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("val/top1")]
    return {int(r["epoch"]): {k: float(v) for k, v in r.items() if k.startswith("val/") and v} for r in rows}


MONITORED = [
    "+experiment=synthetic_stage1_imu",
    "data.num_subjects=4",
    "data.repetitions=2",
    "data.val_subjects=[3]",
    "trainer.max_epochs=4",
    "logger=csv",
]


def test_the_monitor_picks_the_tested_epoch_and_metrics_json_says_which(make_cfg) -> None:
    """The epoch the monitor picks is tested; metrics.json names it, and its validation metrics and
    optimized_value are that epoch's, never the last epoch's beside a best-epoch value. The monitor here
    picks the highest validation loss, an early epoch while the loss falls, so that it is not the last."""
    cfg = make_cfg(
        [*MONITORED, "callbacks.model_checkpoint.monitor=val/loss", "callbacks.model_checkpoint.mode=max"],
        run="monitored",
    )
    metrics = train(cfg)
    epochs = _epochs(Path(cfg.paths.output_dir))
    assert sorted(epochs) == [0, 1, 2, 3]
    best = max(epochs, key=lambda e: (epochs[e]["val/loss"], -e))  # ties: the first stays best
    assert metrics["tested_epoch"] == best and metrics["tested_epoch_chosen_by"] == "best val/loss"
    for name in ("val/loss", "val/top1", "val/f1_macro"):
        assert metrics[name] == pytest.approx(epochs[best][name], abs=1e-5), name
    assert metrics["optimized_value"] == metrics["val/top1"]
    written = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert written["tested_epoch"] == best and written["val/loss"] == metrics["val/loss"]
    # The picked epoch is not the last, so the last epoch's numbers would differ.
    assert best != 3 and not math.isclose(epochs[3]["val/loss"], epochs[best]["val/loss"])


def test_a_best_checkpoint_without_its_validation_metrics_is_validated_again(make_cfg, monkeypatch) -> None:
    """A checkpoint written before checkpoints kept their validation metrics (resumed from an older run):
    the tested epoch is validated again, so its metrics are still that epoch's."""
    from harlit.models import classifier

    saved = classifier.HARClassifier.on_save_checkpoint

    def older(self, checkpoint):
        saved(self, checkpoint)
        checkpoint.pop(classifier.VALIDATION_KEY)

    monkeypatch.setattr(classifier.HARClassifier, "on_save_checkpoint", older)
    cfg = make_cfg(
        [*MONITORED, "callbacks.model_checkpoint.monitor=val/loss", "callbacks.model_checkpoint.mode=max"],
        run="older",
    )
    metrics = train(cfg)
    epochs = _epochs(Path(cfg.paths.output_dir))
    best = max((e for e in epochs if e < 4), key=lambda e: (epochs[e]["val/loss"], -e))
    assert metrics["tested_epoch"] == best != 3
    assert metrics["val/loss"] == pytest.approx(epochs[best]["val/loss"], abs=1e-5)
    assert metrics["val/top1"] == pytest.approx(epochs[best]["val/top1"], abs=1e-5)


def test_without_a_monitor_the_last_epoch_is_tested_and_said(make_cfg) -> None:
    cfg = make_cfg(MONITORED, run="last")
    metrics = train(cfg)
    epochs = _epochs(Path(cfg.paths.output_dir))
    assert (metrics["tested_epoch"], metrics["tested_epoch_chosen_by"]) == (3, "last epoch")
    assert metrics["val/top1"] == pytest.approx(epochs[3]["val/top1"], abs=1e-5)


def test_a_monitor_without_validation_data_is_one_sentence(make_cfg) -> None:
    cfg = make_cfg(["+experiment=synthetic_stage1_imu", "callbacks.model_checkpoint.monitor=val/top1"])
    expected = (
        "callbacks.model_checkpoint.monitor=val/top1 selects the tested epoch on validation data, and this run "
        "has none; hold out training subjects with data.val_subjects=[...], or set "
        "callbacks.model_checkpoint.monitor=null to test the last epoch."
    )
    with pytest.raises(HarlitError) as err:
        validate(cfg)
    assert str(err.value) == expected
    with pytest.raises(HarlitError) as err:
        train(cfg)  # before fitting, not a Lightning warning after it
    assert str(err.value) == expected
    assert not (Path(cfg.paths.output_dir) / "metrics.json").exists()


def test_a_monitor_the_run_does_not_log_is_one_sentence(make_cfg) -> None:
    cfg = make_cfg(
        [
            "+experiment=synthetic_stage1_imu",
            "data.num_subjects=4",
            "data.val_subjects=[3]",
            "callbacks.model_checkpoint.monitor=val/top_1",
        ]
    )
    with pytest.raises(
        HarlitError, match=r"monitor=val/top_1 is not a metric this run logs; monitor one of \["
    ):
        train(cfg)
