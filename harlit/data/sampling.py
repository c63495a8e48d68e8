"""How the splits are served: DataLoaders, the resumable training order, and the unpadded evaluation
sampler used under DDP.

A training loader is a `ResumableLoader`: its order is drawn from (seed, epoch) alone (`EpochOrder`), and
it tells Lightning how many batches of the epoch it has served. Lightning stores that in every checkpoint
(`state_dict`) and hands it back on resume (`load_state_dict`), so a run stopped mid-epoch continues with
the very batch it would have trained on next. No loader draws from the global RNG, so the RNG states a
checkpoint restores (`harlit.checkpointing`) reach the model and the augmentation exactly as they left it.

harlit/data imports nothing of the training or DDP machinery; the samplers live here for that reason.
"""

from __future__ import annotations

import itertools
import os
import signal
from collections.abc import Iterator
from typing import Any

import torch
from lightning_fabric.utilities.seed import pl_worker_init_function
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from harlit.dist import global_rank
from harlit.errors import HarlitError


def evaluation_sampler(dataset: Any) -> Any:
    """An unpadded distributed sampler for val/test loaders under DDP, else None (the loader's default).

    Lightning would wrap an evaluation loader in a DistributedSampler, which repeats samples so every
    rank gets as many: the duplicates would be counted in the test metrics. A sampler that already is a
    DistributedSampler is left alone, so each sample is scored exactly once; torchmetrics sums the counts
    across ranks, and the results equal a single process's.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    if len(dataset) < dist.get_world_size():
        return None  # every rank needs a batch; so tiny a set is evaluated with padding
    from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSampler

    return UnrepeatedDistributedSampler(dataset, shuffle=False)


def _ranks() -> tuple[int, int]:
    """(number of processes, this one's rank) of the DDP run, (1, 0) outside one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


class EpochOrder(DistributedSampler):
    """The training order of one epoch: a permutation of (seed, epoch) alone, this rank's share of it under
    DDP (padded as Lightning's own DistributedSampler would), starting `skip` samples in after a resume.

    A DistributedSampler even in one process: Lightning injects no sampler of its own over it, and calls
    `set_epoch` at every epoch start, a resumed one included.
    """

    def __init__(self, size: int, seed: int, shuffle: bool = True) -> None:
        replicas, rank = _ranks()
        super().__init__(range(size), num_replicas=replicas, rank=rank, shuffle=shuffle, seed=int(seed))
        self.skip = 0  # samples of this epoch already trained on before a resume; used by the next pass

    def __iter__(self) -> Iterator[int]:
        order = list(super().__iter__())
        skip, self.skip = self.skip, 0
        return iter(order[skip:])


class EpochPosition:
    """Where a training loader stands: the epoch of its current pass and the batches of it served so far.

    `state_dict` is what Lightning writes into a checkpoint for the loader; `load_state_dict` arms the next
    pass to skip the batches served before the stop, provided Lightning resumes in that same epoch (after
    an end-of-epoch checkpoint it sets the next epoch, and the pass starts from its first batch).
    """

    def __init__(self, order: Sampler, batch_size: int) -> None:
        self.order = order
        self.batch_size = batch_size
        self.epoch = self.current_epoch()
        self.served = 0
        self.resume: dict[str, int] | None = None

    def state_dict(self) -> dict[str, int]:
        return {
            "epoch": self.epoch,
            "batches": self.served,
            "batch_size": self.batch_size,
            "samples": len(self.order),
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        saved = (int(state["samples"]), int(state["batch_size"]))
        if saved != (len(self.order), self.batch_size):
            raise HarlitError(
                f"the checkpoint to resume from was saved by a run with {saved[0]} training samples per "
                f"process in batches of {saved[1]}, this run has {len(self.order)} in batches of "
                f"{self.batch_size}; resume with the interrupted run's data and trainer settings."
            )
        self.resume = {"epoch": int(state["epoch"]), "batches": int(state["batches"])}

    def current_epoch(self) -> int:
        return int(getattr(self.order, "epoch", 0))  # an order without epochs repeats itself

    def begin(self) -> int:
        """Start a pass over the current epoch (`order.epoch`, set by Lightning); the batches it skips."""
        self.epoch = self.current_epoch()
        resume, self.resume = self.resume, None
        self.served = resume["batches"] if resume and resume["epoch"] == self.epoch else 0
        return self.served


class _Pass(Iterator[Any]):
    """One epoch of a ResumableLoader. It starts at its first batch, not at `iter()`: Lightning sets the
    epoch between the two, and a resumed run calls `iter()` before it."""

    def __init__(self, loader: ResumableLoader) -> None:
        self.loader = loader
        self.batches: Iterator[Any] | None = None

    def __next__(self) -> Any:
        if self.batches is None:
            self.batches = self.loader.start_pass()
        batch = next(self.batches)
        self.loader.position.served += 1
        return batch


class ResumableLoader(DataLoader):
    """A training DataLoader over an EpochOrder whose place in the epoch goes into Lightning checkpoints.

    Exact with loader workers too: the order lives in the main process, and the workers draw no random
    numbers (augmentation runs on the batch after transfer, `HARDataModule.on_after_batch_transfer`).
    """

    # DataLoader's arguments by name, no **kwargs: Lightning rebuilds a loader from them to swap its sampler.
    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        sampler: Sampler,
        seed: int = 0,
        num_workers: int = 0,
        pin_memory: bool = False,
        drop_last: bool = False,
        worker_init_fn: Any = None,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        generator: torch.Generator | None = None,
        shuffle: bool | None = None,
        batch_sampler: Sampler | None = None,
    ) -> None:
        super().__init__(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            sampler=sampler,
            batch_sampler=batch_sampler,
            num_workers=num_workers,
            pin_memory=pin_memory,
            drop_last=drop_last,
            worker_init_fn=worker_init_fn,
            prefetch_factor=prefetch_factor,
            persistent_workers=persistent_workers,
            # The workers' base seed comes from here, not from the global RNG (see the module docstring).
            generator=generator or torch.Generator(),
        )
        self.seed = int(seed)
        self.position = EpochPosition(sampler, batch_size)

    def start_pass(self) -> Iterator[Any]:
        skip = self.position.begin()
        if isinstance(self.sampler, EpochOrder):
            self.sampler.skip, skip = skip * self.position.batch_size, 0  # not even loaded
        self.generator.manual_seed(self.seed)  # every pass: the same worker seeds, resumed or not
        # Another sampler (Lightning's trainer.overfit_batches swaps in its own) is skipped by loading.
        return itertools.islice(super().__iter__(), skip, None)

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        return _Pass(self)

    def state_dict(self) -> dict[str, int]:
        return self.position.state_dict()

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self.position.load_state_dict(state_dict)


def start_worker(worker_id: int) -> None:
    """How every loader worker starts: deaf to SIGTERM, and seeded as Lightning seeds workers.

    A scheduler's SIGTERM reaches every process of the job. The main process finishes its step, saves
    preempted.ckpt and then stops its workers itself; a worker killed by the signal first would make torch
    raise "DataLoader worker is killed by signal" in the main process, before or during that save.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if int(os.environ.get("PL_SEED_WORKERS", 0)):  # what Lightning gives a loader without a worker_init_fn
        pl_worker_init_function(worker_id, rank=global_rank())


def drops_last(shuffle: bool, size: int, batch_size: int) -> bool:
    """Whether a loader drops its last, short batch: a training loader with more than one batch does, since
    BatchNorm in the heads needs more than one sample; evaluation never does."""
    return shuffle and size > batch_size


def split_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool,
    num_workers: int,
    pin_memory: bool,
    prefetch_factor: int | None = None,
    seed: int = 0,
) -> DataLoader:
    """A resumable shuffled training loader, or an ordered evaluation loader (unpadded under DDP).

    `prefetch_factor`: batches each worker loads ahead (None: torch's default, 2); only with workers,
    since a loader without workers loads nothing ahead and torch refuses the argument then. `seed`: the
    run's seed, which draws the training order of every epoch.
    """
    settings: dict[str, Any] = {
        "num_workers": num_workers,
        "pin_memory": pin_memory,
        "persistent_workers": num_workers > 0,
        "prefetch_factor": prefetch_factor if num_workers > 0 else None,
        "drop_last": drops_last(shuffle, len(dataset), batch_size),
        "worker_init_fn": start_worker if num_workers > 0 else None,
    }
    if shuffle:
        order = EpochOrder(len(dataset), seed)
        # By keyword: Lightning rebuilds the loader from these to swap its sampler (trainer.overfit_batches).
        return ResumableLoader(dataset, batch_size=batch_size, sampler=order, seed=seed, **settings)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        # Under DDP each rank evaluates its own share once, without DistributedSampler's padding.
        sampler=evaluation_sampler(dataset),
        # Workers' base seed from here, not from the global RNG that training draws from.
        generator=torch.Generator().manual_seed(int(seed)),
        **settings,
    )
