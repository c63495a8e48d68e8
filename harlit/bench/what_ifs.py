"""What-ifs of the training benchmark: bench-only patches that tell what a change not made yet would gain.

Each one still awaits its GPU measurement (experiments/bench_results.md, "Prepared for the next GPU
session"); once its question is answered there, it goes. They never patch harlit's code: `nosync`
wraps one model instance's methods, `h2d` and `resident` serve the training batches through the
DataModule's own `batch_source` option.

* nosync: the training step's host syncs taken out (`without_step_syncs`);
* h2d: each batch copied to the GPU on a side stream while the step before it runs (`CopyAhead`);
* resident: the training split, clips included, held in device memory (`resident_batches`).
"""

from __future__ import annotations

from typing import Any

import torch

from harlit.data.base import HARDataModule
from harlit.data.sampling import drops_last
from harlit.data.transforms import normalise_imu
from harlit.fastpath import DeviceBatches
from harlit.models.classifier import HARClassifier

WHAT_IFS = ("nosync", "h2d", "resident")
AWAITING = "awaiting a GPU measurement"


def what_if_flags(text: str | None) -> set[str]:
    """`nosync+h2d` -> {"nosync", "h2d"}; ValueError for an unknown one."""
    flags = {f for f in (text or "").split("+") if f}
    unknown = sorted(flags - set(WHAT_IFS))
    if unknown:
        raise ValueError(f"unknown what-if {unknown[0]!r}; known: {', '.join(WHAT_IFS)} (joined by +)")
    return flags


def without_step_syncs(model: HARClassifier) -> None:
    """What-if `nosync` (bench only; awaiting a GPU measurement): take out the training step's two host
    syncs without touching the model's code.

    Logging `train/loss` with prog_bar=True makes Lightning turn it into a Python float after every step
    (`.item()`), and the torchmetrics update of the training metrics syncs inside `torch.bincount`. Here
    the loss stays logged (off the progress bar) and the training metrics are not updated at all: the
    figure is an upper bound on what a sync-free training metric would give.
    """
    log_method = model.log

    def log_off_the_bar(name: str, value: Any, *args: Any, **kwargs: Any) -> None:
        if name.startswith("train/"):
            kwargs["prog_bar"] = False
        log_method(name, value, *args, **kwargs)

    model.log = log_off_the_bar  # type: ignore[method-assign]
    model.train_metrics.update = lambda *args, **kwargs: None  # type: ignore[method-assign]


class CopyAhead:
    """What-if `h2d` (bench only; awaiting a GPU measurement): the training loader's batches copied to the
    GPU on a side stream, each while the step before it runs, instead of on the compute stream just before
    their own step.

    Lightning copies a batch on the current stream, so the copy (~1-2 ms for 38 MB from pinned memory)
    sits between two steps on the GPU. Here the compute stream only waits for an event of the copy
    stream, and the tensors are marked as used by the compute stream for the caching allocator.
    Lightning's own `.to(device)` of the batch is then a no-op. On a CPU it passes the batches through.
    """

    def __init__(self, loader: Any, device: torch.device) -> None:
        self.loader = loader
        self.device = device

    def __len__(self) -> int:
        return len(self.loader)

    # Lightning shuts down a loader's workers at the end of fit through `_iterator`: pass it through.
    @property
    def _iterator(self) -> Any:
        return getattr(self.loader, "_iterator", None)

    @_iterator.setter
    def _iterator(self, value: Any) -> None:
        if hasattr(self.loader, "_iterator"):
            self.loader._iterator = value

    def __iter__(self) -> Any:
        if self.device.type != "cuda":
            yield from self.loader
            return
        stream = torch.cuda.Stream(self.device)
        batches = iter(self.loader)

        def issue() -> tuple[dict[str, Any], torch.cuda.Event] | None:
            batch = next(batches, None)
            if batch is None:
                return None
            with torch.cuda.stream(stream):
                moved = {
                    k: v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v
                    for k, v in batch.items()
                }
                done = torch.cuda.Event()
                done.record(stream)
            return moved, done

        pending = issue()
        while pending is not None:
            moved, done = pending
            current = torch.cuda.current_stream(self.device)
            current.wait_event(done)
            for value in moved.values():
                if isinstance(value, torch.Tensor):
                    value.record_stream(current)
            pending = issue()  # the next copy starts before this batch's step is launched
            yield moved


def copy_ahead(datamodule: HARDataModule, device: torch.device) -> None:
    """Serve the training split through `CopyAhead` (the other splits as before)."""
    datamodule.batch_source = lambda split, dataset, batch_size, shuffle: (
        CopyAhead(datamodule.data_loader(dataset, shuffle, batch_size), device)
        if split == "train"
        else datamodule.data_loader(dataset, shuffle, batch_size)
    )


def resident_batches(datamodule: HARDataModule, device: torch.device) -> None:
    """What-if `resident` (bench only; awaiting a GPU measurement): the training split in device memory,
    clips included, served as shuffled device slices (`harlit.fastpath.DeviceBatches`, as
    DeviceResidentData serves IMU): no loader workers, no copies, no epoch-start refill. Augmentation still
    runs in `on_after_batch_transfer`."""
    train = datamodule.train_set
    rows = torch.as_tensor(train.indices, dtype=torch.long)
    tensors = {
        "label": torch.as_tensor(train.table.labels[train.indices], dtype=torch.long).to(device),
        "index": rows.to(device),
    }
    if "imu" in datamodule.modalities:
        tensors["imu"] = normalise_imu(train.table.imu[rows], train.imu_stats).to(device).contiguous()
    if "video" in datamodule.modalities:
        tensors["video"] = torch.stack([train.table.video[int(r)] for r in train.indices]).to(device)
    drop_last = drops_last(True, len(train), datamodule.batch_size)
    batches = DeviceBatches(
        tensors, datamodule.batch_size, shuffle=True, drop_last=drop_last, seed=datamodule.seed
    )
    datamodule.batch_source = lambda split, dataset, batch_size, shuffle: (
        batches if split == "train" else datamodule.data_loader(dataset, shuffle, batch_size)
    )


def apply_what_ifs(
    what_if: str | None, model: HARClassifier, datamodule: HARDataModule, device: torch.device
) -> None:
    """Apply the what-ifs named in `what_if` (`nosync+h2d`, ...) to a set-up DataModule and its model."""
    flags = what_if_flags(what_if)
    if "nosync" in flags:
        without_step_syncs(model)
    if "resident" in flags:
        resident_batches(datamodule, device)
    elif "h2d" in flags:
        copy_ahead(datamodule, device)
