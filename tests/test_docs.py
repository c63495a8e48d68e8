"""The docs match the code: every experiment and config group that the README and docs/ name exists, the
README's list of config groups names every group, and the one quoted figure of the UTD IMU search is the
one its logs give."""

from __future__ import annotations

import importlib.util
import re
import statistics
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CONF = REPO_ROOT / "conf"
DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
# A group choice as a command line gives it: `data=mmact`, `+sweep=seeds`, `model/head=late,gated`,
# `hardware=cpu|gpu|ddp` (alternatives). Not a key (`data.root=`): no dot before the group.
CHOICE = re.compile(r"(?<![\w.+/-])\+?([a-z_]+(?:/[a-z_]+)*)=([A-Za-z0-9_]+(?:[,|][A-Za-z0-9_]+)*)")
EXPERIMENT_NAME = re.compile(r"\b(?:synthetic|utd|mmact)_stage[12]\w*")
PLACEHOLDER = re.compile(r"^[A-Z_]+$")  # NAME, N: words the reader replaces


def doc_texts() -> list[tuple[str, str]]:
    return [(str(p.relative_to(REPO_ROOT)), p.read_text()) for p in DOCS]


def config_groups() -> list[str]:
    """Every config group: a folder of conf/ holding .yaml options, as 'model/head'."""
    return sorted(str(d.relative_to(CONF)) for d in CONF.rglob("*") if d.is_dir() and any(d.glob("*.yaml")))


def test_every_named_config_choice_exists() -> None:
    groups = set(config_groups())
    checked, missing = 0, []
    for name, text in doc_texts():
        for match in CHOICE.finditer(text):
            group, options = match.group(1), re.split(r"[,|]", match.group(2))
            if group not in groups:
                continue  # a plain key (seed=1, model_path=...), not a group
            for option in options:
                if PLACEHOLDER.match(option):
                    continue
                checked += 1
                if not (CONF / group / f"{option}.yaml").is_file():
                    missing.append(f"{name}: {match.group(0)} (no conf/{group}/{option}.yaml)")
    assert checked > 20  # the pattern finds the README's choices at all
    assert not missing, "\n".join(missing)


def test_every_named_experiment_exists() -> None:
    names = {m.group(0) for _, text in doc_texts() for m in EXPERIMENT_NAME.finditer(text)}
    assert {"utd_stage2_paper", "mmact_stage1_imu_paper", "synthetic_stage2"} <= names
    missing = sorted(n for n in names if not (CONF / "experiment" / f"{n}.yaml").is_file())
    assert not missing, f"named in the README or docs/, but no conf/experiment/<name>.yaml: {missing}"


def test_every_experiment_is_in_the_readme_table() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    table = readme.split("| experiment | what it runs |")[1].split("\n\n")[0]
    listed = set(re.findall(r"`([a-z0-9_]+)`", table))
    experiments = {p.stem for p in (CONF / "experiment").glob("*.yaml")}
    assert experiments - listed == set(), f"experiments missing from the README table: {experiments - listed}"


def test_the_readme_lists_every_config_group() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    listing = readme.split("Config groups:")[1].split("prints the composed config")[0]
    named = set(re.findall(r"`([a-z_/]+)/`", listing))
    missing = [g for g in config_groups() if g not in named]
    assert not missing, f"config groups the README's list does not name: {missing}"


def _imu_search_figure() -> tuple[float, float]:
    """BatchNorm minus current per held-out subject (paired over seeds, each pair once), then mean ±
    standard error over the four subjects, from the committed logs of the fourth search."""
    spec = importlib.util.spec_from_file_location(
        "imu_search", REPO_ROOT / "experiments" / "utd_imu_search" / "summarise.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    runs: dict[str, dict[tuple[int, int], float]] = {}
    for call in sorted((REPO_ROOT / "experiments" / "utd_imu_search" / "logs_h100").glob("call*")):
        for name, results in module.read_runs(call).items():
            runs.setdefault(name, {}).update(results)  # a pair two calls ran counts once
    batch, current = runs["batchnorm"], runs["current"]
    pairs = sorted(set(batch) & set(current))
    folds = sorted({fold for fold, _ in pairs})
    gains = [statistics.mean(batch[p] - current[p] for p in pairs if p[0] == fold) for fold in folds]
    return statistics.mean(gains), statistics.stdev(gains) / len(gains) ** 0.5


@pytest.mark.parametrize(
    "path",
    ["README.md", "experiments/utd_imu_results.md", "conf/experiment/utd_stage1_imu.yaml"],
)
def test_the_batchnorm_gain_is_one_figure_everywhere(path: str) -> None:
    mean, stderr = _imu_search_figure()
    text = (REPO_ROOT / path).read_text()
    assert f"+{mean:.2f} ± {stderr:.2f}" in text, (path, mean, stderr)
    assert "+2.0 ± 0.6" not in text
