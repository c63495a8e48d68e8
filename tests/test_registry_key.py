"""The stage-1 registry key is the resolved stage-1 config minus an explicit allow-list.

Every leaf of a composed stage-1 config is changed in turn: outside the allow-list the key must change,
inside it the key must not.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from harlit.stage1 import KEY_RESOLVED, _allowed, key_of, plain_job_config, registry_key

EXPERIMENTS = [
    "synthetic_stage1_imu",
    "synthetic_stage1_video",
    "utd_stage1_imu",
    "utd_stage1_imu_paper",
    "utd_stage1_video",
    "mmact_stage1_imu",
    "mmact_stage1_video",
]


def leaves(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict) and node:
        for name, value in node.items():
            yield from leaves(value, f"{path}.{name}" if path else str(name))
    else:
        yield path, node


def another(value: Any) -> Any:
    """A different value of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 2 + 0.5
    if isinstance(value, str):
        return value + "_changed"
    if isinstance(value, list):
        return [*value, value[-1]] if value else [1]
    if isinstance(value, dict):
        return {"added": 1}
    return 1  # None


def changed(config: dict[str, Any], path: str) -> dict[str, Any]:
    out = copy.deepcopy(config)
    *parents, last = path.split(".")
    node = out
    for part in parents:
        node = node[part]
    node[last] = another(node[last])
    return out


def key(config: dict[str, Any], modality: str) -> dict[str, Any]:
    return registry_key(config, modality, "dataset", [])


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_leaf_outside_the_allow_list_changes_the_key(make_cfg, experiment: str) -> None:
    cfg = make_cfg([f"+experiment={experiment}"], tiny=False)
    modality = cfg.model.modality
    config = plain_job_config(cfg)
    base = key(config, modality)
    missed, leaked = [], []
    for path, _ in leaves(config):
        if any(path == p or path.startswith(p + ".") for p in KEY_RESOLVED):
            continue  # replaced by the resolved hidden class names (tested below)
        if path == "data.cache_quality" and config["data"].get("cache_format") == "uint8":
            continue  # shapes the pixels of a JPEG cache only
        same = key(changed(config, path), modality) == base
        if _allowed(path, modality) and not same:
            leaked.append(path)
        if not _allowed(path, modality) and same:
            missed.append(path)
    assert not missed, f"settings outside the allow-list that leave the key unchanged: {missed}"
    assert not leaked, f"allow-listed settings that change the key: {leaked}"
    assert len(list(leaves(config))) > 60  # the walk saw the whole config


def test_the_global_batch_precision_and_epoch_choice_are_in_the_key(make_cfg) -> None:
    def of(*overrides: str) -> dict[str, Any]:
        return key_of(make_cfg(["+experiment=synthetic_stage1_imu", *overrides]), "imu")

    plain = of()
    assert of("trainer=ddp_cpu") != plain  # 2 ranks: twice the global batch
    assert of("trainer=ddp_cpu")["world_size"] == 2 and plain["world_size"] == 1
    assert of("+trainer.accumulate_grad_batches=2") != plain
    assert of("+trainer.precision=bf16-mixed") != plain
    assert of("callbacks.model_checkpoint.monitor=val/top1") != plain  # chooses the exported epoch
    assert of("data.num_workers=2", "data.eval_batch_size=3", "trainer.enable_progress_bar=true") == plain


def test_hidden_classes_are_keyed_by_what_they_resolve_to(make_cfg) -> None:
    def of(*overrides: str) -> dict[str, Any]:
        return key_of(make_cfg(["+experiment=synthetic_stage1_imu", *overrides]), "imu")

    by_name = of("data.hidden_classes=[wave_window]")
    assert by_name == of("data.hidden_classes=[0]") == of("data.hidden_classes=[0]", "data.hidden_from=imu")
    assert by_name["hidden_classes"] == ["wave_window"]
    assert by_name != of() and by_name != of("data.hidden_classes=[wave_table]")


def test_the_other_modality_s_preprocessing_is_not_in_the_key(make_cfg) -> None:
    def of(experiment: str, modality: str, *overrides: str) -> dict[str, Any]:
        return key_of(make_cfg([f"+experiment={experiment}", *overrides]), modality)

    assert of("synthetic_stage1_video", "video", "data.imu_length=32") == of(
        "synthetic_stage1_video", "video"
    )
    assert of("synthetic_stage1_imu", "imu", "data.frame_size=16") == of("synthetic_stage1_imu", "imu")
    assert of("synthetic_stage1_imu", "imu", "data.imu_length=32") != of("synthetic_stage1_imu", "imu")
