"""`python -m harlit.predict model_path=<...> video=clip.mp4 imu=recording.mat`, or `manifest=pairs.csv`.

With `stride=1s` the video and IMU are one untrimmed recording: a window slides along it and each window is
classified (harlit.timeline writes timeline.csv and timeline.png).

One pair: prints the top-k classes with probabilities. A manifest (the `data=manifest` CSV format, label
optional): predicts every row with a progress bar and writes `predictions.csv`. A row that cannot be
predicted (missing file, undecodable video, wrong channel count) gets its row number and reason in that
file, the other rows are still predicted, and the exit code is 1 when any row failed.
"""

from __future__ import annotations

import csv
import logging
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, ListConfig
from tqdm.auto import tqdm

from harlit.config import CONFIG_DIR, check_entry_overrides
from harlit.errors import HarlitError, exit_on_user_error
from harlit.io import atomic_write_text
from harlit.startup import configure
from harlit.timeline import predict_timeline
from harlit.trained import TrainedModel, load_model

log = logging.getLogger(__name__)


def _say_missing(model: TrainedModel, batch: dict[str, torch.Tensor], where: str = "") -> None:
    for modality in model.missing(batch):
        print(f"note: no {modality} given{where}; the model's missing-{modality} value stands in for it.")


def predict_one(cfg: DictConfig, model: TrainedModel) -> list[tuple[str, float]]:
    imu = cfg.get("imu")  # a file, a folder, or imu=[...]: the four sensor CSVs of an MMAct recording
    batch = model.prepare(video=cfg.get("video"), imu=list(imu) if isinstance(imu, ListConfig) else imu)
    _say_missing(model, batch)
    top = model.top_k(model.predict_batch(batch)[0], int(cfg.top_k))
    width = max(len(name) for name, _ in top)
    for rank, (name, probability) in enumerate(top, start=1):
        print(f"{rank}. {name:<{width}}  {probability:.4f}")
    return top


def read_pairs(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise HarlitError(f"the manifest {path} does not exist; give a CSV with the columns video, imu.")
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        if not columns & {"video", "imu"}:
            raise HarlitError(f"the manifest {path} has neither a video nor an imu column; add them.")
        return list(reader)


def _resolve(value: str | None, folder: Path) -> Path | None:
    if not value or not value.strip():
        return None
    path = Path(value.strip()).expanduser()
    return path if path.is_absolute() else folder / path


def predict_manifest(cfg: DictConfig, model: TrainedModel, out: Path) -> tuple[int, int]:
    """Predict every row; returns (rows predicted, rows failed)."""
    manifest = Path(cfg.manifest).expanduser().resolve()
    rows = read_pairs(manifest)
    k = min(int(cfg.top_k), len(model.class_names))
    header = ["row", "id", "video", "imu", "label", "status", "error", "missing", "predicted_label"]
    header += [f"top{i}_{kind}" for i in range(1, k + 1) for kind in ("class", "prob")]
    results: list[list[Any]] = []
    pending: list[tuple[list[Any], dict[str, torch.Tensor]]] = []

    def flush() -> None:
        if not pending:
            return
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, (_, batch) in enumerate(pending):
            groups.setdefault(tuple(sorted(batch)), []).append(i)
        for keys, members in groups.items():  # pairs with the same modalities share a forward pass
            stacked = {key: torch.cat([pending[i][1][key] for i in members]) for key in keys}
            for i, probabilities in zip(members, model.predict_batch(stacked), strict=True):
                top = model.top_k(probabilities, k)
                pending[i][0].extend([top[0][0]] + [c for name, p in top for c in (name, f"{p:.6f}")])
        pending.clear()

    failed = 0
    for number, row in enumerate(tqdm(rows, desc="predict", unit="pair"), start=1):
        video, imu = _resolve(row.get("video"), manifest.parent), _resolve(row.get("imu"), manifest.parent)
        cells: list[Any] = [
            number,
            row.get("id") or str(number),
            row.get("video", ""),
            row.get("imu", ""),
            row.get("label", ""),
        ]
        try:
            batch = model.prepare(video=video, imu=imu)
        except HarlitError as err:
            failed += 1
            results.append([*cells, "failed", str(err), ""])
            continue
        cells += ["ok", "", "+".join(model.missing(batch))]
        results.append(cells)
        pending.append((cells, batch))
        if len(pending) >= int(cfg.batch_size):
            flush()
    flush()
    buffer = StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *results])
    atomic_write_text(out, buffer.getvalue())
    print(f"predicted {len(rows) - failed} of {len(rows)} pairs -> {out}")
    if failed:
        print(f"{failed} row(s) failed; their row numbers and reasons are in {out}", file=sys.stderr)
    return len(rows) - failed, failed


def predict(cfg: DictConfig) -> int:
    """Run the prediction `cfg` asks for; returns the exit code (1 when a manifest row failed)."""
    for key in ("window", "imu_rate"):
        if cfg.get(key) is not None and cfg.get("stride") is None:
            raise HarlitError(
                f"{key}= is a timeline setting; add stride= (e.g. stride=1s) to slide a window along the recording."
            )
    model = load_model(cfg.model_path, device=cfg.get("device", "cpu"))
    if cfg.get("stride") is not None:  # an untrimmed recording: a timeline of windows (harlit.timeline)
        predict_timeline(cfg, model)
        return 0
    if cfg.get("manifest"):
        if cfg.get("video") or cfg.get("imu"):
            raise HarlitError("give either manifest= or video=/imu=, not both.")
        out = Path(cfg.out).expanduser() if cfg.get("out") else Path(cfg.paths.output_dir) / "predictions.csv"
        _, failed = predict_manifest(cfg, model, out)
        return 1 if failed else 0
    predict_one(cfg, model)
    return 0


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="predict")
@exit_on_user_error
def hydra_main(cfg: DictConfig) -> None:
    code = predict(cfg)
    if code:
        sys.exit(code)


@exit_on_user_error
def main() -> None:
    configure()
    logging.getLogger("harlit").setLevel(logging.WARNING)  # stdout is the prediction
    check_entry_overrides(sys.argv[1:])  # read, never rewritten: --help and --cfg work as in Hydra
    hydra_main()


if __name__ == "__main__":
    main()
