"""`python -m harlit.evaluate model_path=<run dir | model.pt | .ckpt> [+data.KEY=VALUE]`: test a trained model.

Writes `metrics.json` (the training run's keys: test/top1, test/top5, test/f1_macro, ...),
`confusion_matrix.json` and `predictions.csv` (one row per test sample: id, true and predicted label,
the top-5 classes with their probabilities) into its run directory. `eval.missing=[imu]` tests a fusion
model with that modality absent for every sample, through the model's own missing-modality path.
"""

from __future__ import annotations

import csv
import json
import logging
import sys
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from harlit.config import CONFIG_DIR, check_entry_overrides, instantiate, to_plain
from harlit.data import preprocess
from harlit.data.base import HARDataModule
from harlit.errors import HarlitError, exit_on_user_error
from harlit.io import atomic_write_json, atomic_write_text
from harlit.outputs import summarize_test
from harlit.startup import configure
from harlit.trained import TrainedModel, load_model

log = logging.getLogger(__name__)

TOP_K = 5


def data_config(cfg: DictConfig, model: TrainedModel, out_dir: Path) -> dict[str, Any]:
    """The data to test on: the model's own (or `data=NAME`), with overrides, preprocessing fixed by the model."""
    given = to_plain(cfg.get("data")) or {}
    if "_target_" in given:
        data = given
    elif model.data_config:
        data = {**model.data_config, **given}
    else:
        raise HarlitError(
            f"{model.source} does not say what data it was trained on; give data=NAME and its data.* keys."
        )
    fixed = preprocess.data_overrides(model.preprocessing)
    changed = {k: (data[k], v) for k, v in fixed.items() if k in data and data[k] != v}
    for key, (asked, used) in changed.items():
        log.warning("data.%s=%s ignored: the model was trained with %s", key, asked, used)
    data.update({k: v for k, v in fixed.items() if k in data})
    data["report_dir"] = str(out_dir)  # a skip list belongs to this evaluation, not to the training run
    if cfg.eval.get("batch_size"):
        data["eval_batch_size"] = int(cfg.eval.batch_size)
    return data


# What an evaluation copies from the training run's metrics.json, so reports group it with that run.
TRAINING_IDENTITY = (
    "name",
    "stage",
    "seed",
    "head",
    "modality_dropout",
    "train_ratio",
    "hidden_classes",
    "hidden_from",
)


def training_identity(model: TrainedModel) -> dict[str, Any]:
    folder = model.source.parent.parent if model.source.suffix == ".ckpt" else model.source.parent
    path = folder / "metrics.json"
    if not path.is_file():
        return {}
    trained = json.loads(path.read_text())
    return {key: trained[key] for key in TRAINING_IDENTITY if key in trained}


def check_missing(missing: list[str], model: TrainedModel) -> set[str]:
    unknown = [m for m in missing if m not in model.modalities]
    if unknown:
        raise HarlitError(
            f"eval.missing names {unknown[0]!r}, which this model does not use; choose from {list(model.modalities)}."
        )
    if missing and len(missing) >= len(model.modalities):
        raise HarlitError(
            f"eval.missing={missing} leaves this {'+'.join(model.modalities)} model no input; "
            "leave at least one modality present."
        )
    return set(missing)


def write_predictions(
    path: Path, datamodule: HARDataModule, outputs: list[tuple[torch.Tensor, torch.Tensor]]
) -> None:
    names = datamodule.class_names
    header = ["id", "true_label", "predicted_label", "correct"]
    header += [f"top{i}_{kind}" for i in range(1, TOP_K + 1) for kind in ("class", "prob")]
    lines = [header]
    for rows, probabilities in outputs:
        values, indices = probabilities.topk(min(TOP_K, probabilities.shape[1]), dim=1)
        for row, top_v, top_i in zip(rows.tolist(), values.tolist(), indices.tolist(), strict=True):
            true = names[int(datamodule.table.labels[row])]
            cells = [datamodule.table.ids[row], true, names[top_i[0]], int(names[top_i[0]] == true)]
            for value, index in zip(top_v, top_i, strict=True):
                cells += [names[index], f"{value:.6f}"]
            lines.append(cells)
    from io import StringIO

    buffer = StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(lines)
    atomic_write_text(path, buffer.getvalue())


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Test `cfg.model` on `cfg.data`'s test split; write metrics, confusion matrix and predictions."""
    out_dir = Path(cfg.paths.output_dir).expanduser().resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    model = load_model(cfg.model_path)
    missing = check_missing(list(cfg.eval.get("missing") or []), model)
    datamodule: HARDataModule = instantiate(
        data_config(cfg, model, out_dir), modalities=list(model.modalities), _convert_="all"
    )
    datamodule.setup("test")
    preprocess.use_encoder_preprocessing(datamodule, model.preprocessing, f"the model {model.source}")
    if datamodule.class_names != model.class_names:
        raise HarlitError(
            f"the data's classes ({len(datamodule.class_names)}) are not the model's ({len(model.class_names)}) "
            "in name and order; evaluate on data with the model's classes (data.class_names for a manifest)."
        )
    classifier = model.classifier
    classifier.absent_modalities = missing
    classifier.keep_test_outputs = True
    classifier.test_outputs = []
    trainer = pl.Trainer(
        logger=False, enable_checkpointing=False, enable_model_summary=False, **to_plain(cfg.trainer)
    )
    logged = trainer.test(classifier, datamodule=datamodule, verbose=False)
    if not logged:
        raise HarlitError(f"the {datamodule.name} test split is empty; check the data.* test keys.")
    metrics = summarize_test(classifier, datamodule, logged[0])
    metrics.update({"name": cfg.get("name"), **training_identity(model)})
    metrics.update(
        {
            "evaluation": True,
            "model": str(model.source),
            "modality": classifier.modality,
            "missing_at_test": sorted(missing),
            **datamodule.describe(),
            "run_dir": str(out_dir),
        }
    )
    confusion = classifier.test_details["confusion_matrix"]
    atomic_write_text(
        out_dir / "confusion_matrix.json",
        json.dumps({"classes": datamodule.class_names, "matrix": confusion.tolist()}),
    )
    write_predictions(out_dir / "predictions.csv", datamodule, classifier.test_outputs)
    atomic_write_json(out_dir / "metrics.json", metrics)
    log.info(
        "Test: top1=%.4f top5=%.4f f1_macro=%.4f -> %s",
        metrics["test/top1"],
        metrics["test/top5"],
        metrics["test/f1_macro"],
        out_dir / "metrics.json",
    )
    return metrics


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="eval")
@exit_on_user_error
def hydra_main(cfg: DictConfig) -> None:
    evaluate(cfg)


@exit_on_user_error
def main() -> None:
    configure()
    check_entry_overrides(sys.argv[1:])  # read, never rewritten: --help and --cfg work as in Hydra
    hydra_main()


if __name__ == "__main__":
    main()
