"""experiments/selection: validation scores paired by fold and seed, never a test metric."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO_ROOT

SUMMARISE = REPO_ROOT / "experiments" / "selection" / "summarise.py"


def _summarise_module():
    spec = importlib.util.spec_from_file_location("selection_summarise", SUMMARISE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _job(root: Path, name: str, overrides: list[str], val: float | None, test: float) -> None:
    job = root / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (job / "metrics.json").write_text(json.dumps({"optimized_value": val, "test/top1": test}))


def test_candidates_are_paired_by_fold_and_seed_on_validation_only(tmp_path: Path) -> None:
    values = {
        ("none", "[1]", 0): 0.80,
        ("none", "[3]", 0): 0.70,
        ("batch", "[1]", 0): 0.84,
        ("batch", "[3]", 0): 0.71,
    }
    for i, ((norm, fold, seed), val) in enumerate(values.items()):
        _job(
            tmp_path,
            str(i),
            [f"model.imu.norm={norm}", f"data.val_subjects={fold}", f"seed={seed}"],
            val,
            test=0.99,
        )
    _job(tmp_path, "no_val", ["model.imu.norm=batch", "seed=1"], None, test=0.5)  # no validation: counted
    module = _summarise_module()
    jobs, nothing = module.read_jobs(tmp_path)
    assert nothing == {module.NO_VALUE: [tmp_path / "no_val"], module.NO_METRICS: []}
    assert jobs == {
        "model.imu.norm=none": {("[1]", "0"): 0.80, ("[3]", "0"): 0.70},
        "model.imu.norm=batch": {("[1]", "0"): 0.84, ("[3]", "0"): 0.71},
    }
    table = module.summary(jobs, "model.imu.norm=none")
    row = next(line for line in table.splitlines() if line.startswith("| model.imu.norm=batch"))
    assert "77.50" in row and "+2.50 ± 1.50 (n=2)" in row and "[1]: +4.00" in row and "[3]: +1.00" in row
    assert "99" not in table  # the test metric never shows


def test_the_selection_recipe_is_valid_bash() -> None:
    script = REPO_ROOT / "experiments" / "selection" / "run.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    usage = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert usage.returncode == 2 and "validation folds" in usage.stdout


def test_jobs_that_returned_nothing_are_counted_and_named(tmp_path: Path) -> None:
    """A mistyped fold or a crashed job is said, never dropped without a word; stage-1 sub-runs are no jobs."""
    for fold, val in (("[1]", 0.8), ("[3]", 0.7)):
        _job(tmp_path, f"ok{fold}", [f"data.val_subjects={fold}"], val, test=0.9)
    _job(tmp_path, "typo", ["data.val_subjects=[2]"], None, test=0.9)
    (tmp_path / "crashed" / ".hydra").mkdir(parents=True)
    (tmp_path / "crashed" / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["data.val_subjects=[5]"]))
    sub_run = tmp_path / "ok[1]" / "stage1_imu"
    sub_run.mkdir()
    (sub_run / "metrics.json").write_text(json.dumps({"optimized_value": None, "test/top1": 0.5}))
    result = subprocess.run([sys.executable, str(SUMMARISE), str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "4 job(s) read; 2 returned a validation value." in result.stdout
    assert "1 job(s) returned nothing (optimized_value is null: no validation data" in result.stdout
    assert "training subjects): typo" in result.stdout
    assert "1 job(s) returned nothing (no metrics.json: the job failed or is still running): crashed" in (
        result.stdout
    )
    nothing_at_all = tmp_path / "only_typo"
    _job(nothing_at_all, "typo", ["data.val_subjects=[2]"], None, test=0.9)
    result = subprocess.run(
        [sys.executable, str(SUMMARISE), str(nothing_at_all)], capture_output=True, text=True
    )
    assert result.returncode != 0 and "1 job(s) returned nothing (optimized_value is null" in result.stderr


def test_summarise_without_runs_says_so(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(SUMMARISE), str(tmp_path)], capture_output=True, text=True)
    assert result.returncode != 0 and "no job with a validation score" in result.stderr


def test_an_optuna_search_optimises_the_validation_value(tmp_path: Path) -> None:
    """Two Optuna trials on synthetic stage 1 with validation subjects (the optuna extra; make install has it)."""
    import pytest

    from tests.conftest import QUIET, run_harlit
    from tests.data_fixtures import in_ci

    if importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None:
        if in_ci():
            pytest.fail(
                "the optuna extra is not installed; make install installs it (pip install -e '.[optuna]')"
            )
        pytest.skip("the optuna extra is not installed (pip install -e '.[optuna]')")
    sweep = tmp_path / "sweep"
    result = run_harlit(
        [
            "-m",
            "+experiment=synthetic_stage1_imu",
            "+sweep=optuna",
            "hydra.sweeper.n_trials=2",
            "data.val_subjects=[1]",
            "data.num_subjects=4",
            "data.repetitions=1",
            "trainer.max_epochs=1",
            *QUIET,
            f"hydra.sweep.dir={sweep}",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    trials = [json.loads((sweep / str(i) / "metrics.json").read_text()) for i in range(2)]
    assert all(t["optimized_metric"] == "val/top1" for t in trials)
    assert best["best_value"] == max(t["optimized_value"] for t in trials)  # validation, never test
    assert set(best["best_params"]) == {"model.optimizer.lr", "model.optimizer.weight_decay"}


def test_a_missing_optuna_sweeper_is_one_sentence(monkeypatch) -> None:
    import pytest

    from harlit import launchers
    from harlit.errors import HarlitError

    monkeypatch.setattr(launchers, "OPTUNA_MODULE", "hydra_plugins.no_such_sweeper")  # as if not installed
    with pytest.raises(
        HarlitError, match=r"\+sweep=optuna needs the Optuna sweeper.*pip install -e '.\[optuna\]'"
    ):
        launchers.check_sweeper_plugin(["+sweep=optuna"])
    launchers.check_sweeper_plugin(["+sweep=seeds"])  # not a plugin: nothing to check
