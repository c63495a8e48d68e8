"""GPU fast path for IMU-only runs: the whole dataset lives on the device and batches are index slices.

The IMU CNN trains at tens of thousands of samples per second on a GPU; a DataLoader that collates
small tensors in Python, pins them and copies them over would be the only cost. `DeviceResidentData`
(a callback that `hardware=gpu` adds) moves the normalised IMU of every split to the device once, when
it fits in a fraction of the free device memory, and hands Lightning iterables that slice it. Batches
carry the same keys as the DataModule's (`imu`, `label`, `index`), and `on_after_batch_transfer`
still augments them, on the device.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from typing import Any

import pytorch_lightning as pl
import torch

from harlit.data.base import HARDataModule, TableDataset
from harlit.data.sampling import EpochOrder, EpochPosition, drops_last
from harlit.data.transforms import normalise_imu

log = logging.getLogger(__name__)


class DeviceBatches:
    """Batches of device tensors, one pass per epoch in the order of an EpochOrder (shuffled by the run's
    seed and the epoch, as the DataModule's training loader is), resumable mid-epoch like that loader: its
    place in the epoch goes into Lightning checkpoints (`state_dict`) and comes back on resume."""

    def __init__(
        self,
        tensors: dict[str, torch.Tensor],
        batch_size: int,
        shuffle: bool,
        drop_last: bool,
        seed: int = 0,
    ) -> None:
        self.tensors = tensors
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.size = len(tensors["label"])
        # Lightning calls `sampler.set_epoch` at every epoch start and reads `batch_sampler` as a DataLoader's.
        self.sampler = EpochOrder(self.size, seed, shuffle=shuffle)
        self.batch_sampler = None
        self.position = EpochPosition(self.sampler, batch_size)

    def __len__(self) -> int:
        if self.drop_last:
            return self.size // self.batch_size
        return math.ceil(self.size / self.batch_size)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        return self._batches()

    def _batches(self) -> Iterator[dict[str, torch.Tensor]]:
        # A generator: the pass starts at the first batch, after Lightning has set the epoch.
        first = self.position.begin()
        device = self.tensors["label"].device
        order = torch.as_tensor(list(self.sampler), dtype=torch.long).to(device)  # one copy per epoch
        for batch in range(first, len(self)):
            rows = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            self.position.served += 1
            yield {name: tensor[rows] for name, tensor in self.tensors.items()}

    def state_dict(self) -> dict[str, int]:
        return self.position.state_dict()

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self.position.load_state_dict(state_dict)


def split_tensors(dataset: TableDataset, device: torch.device) -> dict[str, torch.Tensor]:
    """One split's normalised IMU, labels and row ids, as TableDataset would serve them."""
    rows = torch.as_tensor(dataset.indices, dtype=torch.long)
    imu = normalise_imu(dataset.table.imu[rows], dataset.imu_stats)
    labels = torch.as_tensor(dataset.table.labels[dataset.indices], dtype=torch.long)
    return {"imu": imu.to(device).contiguous(), "label": labels.to(device), "index": rows.to(device)}


class DeviceResidentData(pl.Callback):
    """Serve an IMU-only DataModule from device memory when it fits (single process only)."""

    def __init__(self, max_fraction: float = 0.25, accelerators: Sequence[str] = ("cuda",)) -> None:
        self.max_fraction = max_fraction
        self.accelerators = tuple(accelerators)
        self.active = False

    def _budget_bytes(self, device: torch.device) -> float:
        if device.type == "cuda":
            free, _total = torch.cuda.mem_get_info(device)
            return self.max_fraction * free
        return float("inf")  # CPU "device" (tests): memory is the host's anyway

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        datamodule = trainer.datamodule
        device = trainer.strategy.root_device
        if (
            self.active
            or not isinstance(datamodule, HARDataModule)
            or datamodule.modalities != ("imu",)
            or trainer.world_size > 1
            or device.type not in self.accelerators
            or datamodule.table is None
            or datamodule.table.imu is None
        ):
            return
        splits = {"train": datamodule.train_set, "val": datamodule.val_set, "test": datamodule.test_set}
        splits = {name: ds for name, ds in splits.items() if ds is not None and len(ds)}
        if any(ds.absent for ds in splits.values()):
            return  # IMU-only runs never mark IMU absent; be safe if that changes
        needed = sum(ds.table.imu[0].numel() * 4 * len(ds) for ds in splits.values())
        budget = self._budget_bytes(device)
        if needed > budget:
            log.info(
                "IMU data (%.1f MB) exceeds %.0f%% of free device memory: using the DataLoader.",
                needed / 2**20,
                100 * self.max_fraction,
            )
            return
        tensors = {name: split_tensors(ds, device) for name, ds in splits.items()}

        def serve(split: str, dataset: Any, batch_size: int, shuffle: bool) -> Any:
            if split not in tensors:
                return []
            drop = drops_last(shuffle, len(dataset), batch_size)
            return DeviceBatches(tensors[split], batch_size, shuffle, drop, seed=datamodule.seed)

        datamodule.batch_source = serve  # the DataModule's option: its loaders now slice these tensors
        self.active = True
        log.info(
            "IMU data of every split on %s (%.1f MB): batches are device slices.", device, needed / 2**20
        )
