"""The LightningModule for both stages: one or two encoders, a head, torchmetrics per split."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from harlit.config import instantiate
from harlit.encoder_file import EncoderFile
from harlit.errors import HarlitError
from harlit.models.heads.base import Head, zero_through
from harlit.models.heads.linear import LinearHead

log = logging.getLogger(__name__)

PLATEAU_MONITOR = "val/top1"  # what model/scheduler=plateau steps on (mode max)
MODALITIES_OF = {"imu": ("imu",), "video": ("video",), "fusion": ("imu", "video")}
VALIDATION_KEY = "harlit_validation"  # a checkpoint's validation metrics, of the epoch it ends


def classification_metrics(num_classes: int, prefix: str) -> MetricCollection:
    """Top-1 and Top-5 as micro accuracy, and macro F1; averages are explicit on purpose."""
    return MetricCollection(
        {
            "top1": MulticlassAccuracy(num_classes, top_k=1, average="micro"),
            "top5": MulticlassAccuracy(num_classes, top_k=min(5, num_classes), average="micro"),
            "f1_macro": MulticlassF1Score(num_classes, average="macro"),
        },
        prefix=prefix,
        # Compute groups share state between metrics whose states match after the first batch; top-1 and
        # top-5 match whenever that batch is all top-1 hits, and top-5 would then report top-1 forever.
        compute_groups=False,
    )


def check_settings(modality: str, label_smoothing: float, modality_dropout: float) -> None:
    """The model settings a run can be refused for before anything trains (harlit.train.validate)."""
    if modality not in MODALITIES_OF:
        raise HarlitError(f"model.modality must be one of {sorted(MODALITIES_OF)}, not {modality!r}.")
    if not 0.0 <= label_smoothing < 1.0:
        raise HarlitError(f"model.label_smoothing must be in [0, 1), not {label_smoothing}.")
    if not 0.0 <= modality_dropout < 1.0:
        raise HarlitError(f"model.modality_dropout must be in [0, 1), not {modality_dropout}.")
    if modality_dropout and modality != "fusion":
        raise HarlitError("model.modality_dropout applies to fusion (stage 2) only; set it to 0.")


@contextlib.contextmanager
def running_batchnorm(module: nn.Module, active: bool) -> Iterator[None]:
    """BatchNorm layers of `module` normalise with their running statistics while `active`.

    A training batch with a single sample of a modality (modality dropout, hidden classes) cannot give
    batch statistics when the encoder's last feature map is 1x1x1; its running statistics stand in.
    """
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    if not active or not norms:
        yield
        return
    for norm in norms:
        norm.train(False)
    try:
        yield
    finally:
        for norm in norms:
            norm.train(True)


def _built(node: Any) -> Any:
    """A module or factory given as a config (`_target_`) is built here; one given built stays as it is."""
    if isinstance(node, Mapping) and "_target_" in node:
        return instantiate(node)
    return node


class HARClassifier(pl.LightningModule):
    """Encoders -> per-modality features -> head.

    modality "imu" or "video" is stage 1 (one encoder, a linear head); "fusion" is stage 2 (both encoders,
    loaded from their stage-1 checkpoints, and a fusion head). Samples whose modality is marked absent
    (`batch["<m>_present"] == False`, e.g. the hidden-class protocol), missing from the batch, listed in
    `absent_modalities` or dropped by `modality_dropout` never reach that encoder; the head puts its
    missing-modality value in their place.

    Encoders, head, optimizer and scheduler may be given as configs (`_target_` dicts, as
    `harlit.build.build_model` does): they are then part of the hyperparameters, and
    `HARClassifier.load_from_checkpoint(ckpt)` rebuilds the model from a Lightning checkpoint alone.
    """

    def __init__(
        self,
        modality: str,
        num_classes: int,
        optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer] | Mapping[str, Any],
        imu: nn.Module | Mapping[str, Any] | None = None,
        video: nn.Module | Mapping[str, Any] | None = None,
        head: Callable[..., Head] | Mapping[str, Any] = LinearHead,
        scheduler: Callable[[torch.optim.Optimizer], Any] | Mapping[str, Any] | None = None,
        imu_ckpt: str | None = None,
        video_ckpt: str | None = None,
        class_names: list[str] | None = None,
        label_smoothing: float = 0.0,
        modality_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_settings(modality, label_smoothing, modality_dropout)
        given = {"imu": imu, "video": video, "head": head, "optimizer": optimizer, "scheduler": scheduler}
        self.save_hyperparameters(ignore=[k for k, v in given.items() if not isinstance(v, Mapping)])
        self.modality = modality
        self.modalities = MODALITIES_OF[modality]
        encoders = {m: _built(given[m]) for m in ("imu", "video") if m in self.modalities}
        for m in self.modalities:
            if encoders[m] is None:
                raise HarlitError(
                    f"the {modality} model needs model.{m}; add an encoder config under model.{m}."
                )
        self.encoders = nn.ModuleDict(encoders)
        self.head = _built(head)(
            feature_dims={m: enc.out_dim for m, enc in self.encoders.items()}, num_classes=num_classes
        )
        self.label_smoothing = label_smoothing
        self.modality_dropout = modality_dropout
        self.optimizer_factory = _built(optimizer)
        self.scheduler_factory = _built(scheduler)
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names else [str(i) for i in range(num_classes)]
        self.absent_modalities: set[str] = set()  # evaluation with a sensor missing for every sample
        self.preprocessing: dict[str, Any] = {}  # what the inputs went through (harlit.data.preprocess)
        self.train_metrics = classification_metrics(num_classes, "train/")
        self.val_metrics = classification_metrics(num_classes, "val/")
        self.test_metrics = classification_metrics(num_classes, "test/")
        self.val_loss, self.test_loss = MeanMetric(), MeanMetric()
        self.test_f1_per_class = MulticlassF1Score(num_classes, average="none")
        self.test_confusion = MulticlassConfusionMatrix(num_classes)
        self.test_details: dict[str, torch.Tensor] = {}
        self.keep_test_outputs = False  # harlit.evaluate: per-sample probabilities for predictions.csv
        self.test_outputs: list[tuple[torch.Tensor, torch.Tensor]] = []
        for m, ckpt in (("imu", imu_ckpt), ("video", video_ckpt)):
            if ckpt and m in self.modalities:
                self.load_encoder(m, ckpt)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # A checkpoint rebuilds its model alone: the weights come from its state dict, not from the
        # stage-1 files or the pretrained download the training run started from.
        hparams = checkpoint.get("hyper_parameters")
        if hparams is not None:
            cleaned = {**hparams, "imu_ckpt": None, "video_ckpt": None}  # a copy: the model's own stay
            video = cleaned.get("video")
            if isinstance(video, Mapping) and "pretrained" in video:
                cleaned["video"] = {**video, "pretrained": "none"}
            checkpoint["hyper_parameters"] = cleaned
        checkpoint["harlit_preprocessing"] = self.preprocessing
        if self._trainer is not None:
            # The validation metrics of the epoch this checkpoint ends (ModelCheckpoint saves after they are
            # logged): the tested epoch's, when a monitor picks this checkpoint (harlit.outputs).
            metrics = self._trainer.callback_metrics
            checkpoint[VALIDATION_KEY] = {k: float(v) for k, v in metrics.items() if k.startswith("val/")}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.preprocessing = checkpoint.get("harlit_preprocessing") or {}

    def load_encoder(self, modality: str, source: str | Path | EncoderFile) -> None:
        """Load a stage-1 encoder's weights exactly (from its file, or an EncoderFile already read); a
        mismatch is a user error, not a traceback."""
        encoder = source if isinstance(source, EncoderFile) else EncoderFile.load(source, modality)
        path = encoder.path or source
        state = encoder.state_dict
        try:
            self.encoders[modality].load_state_dict(state, strict=True)
        except RuntimeError as err:
            first = str(err).split("\n\t")[1] if "\n\t" in str(err) else str(err)[:200]
            raise HarlitError(
                f"the {modality} checkpoint {path} does not match model.{modality} ({first.strip()}); "
                f"use a checkpoint trained with the same encoder config."
            ) from None
        log.info("Loaded the stage-1 %s encoder from %s", modality, path)

    def encode(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Per-modality features and presence masks (None: every sample has the modality).

        Absent rows are zeros here and never pass through the encoder, so its BatchNorm statistics and
        gradients see only the samples that have the modality; the head fills them in.
        """
        size = len(batch["label"]) if "label" in batch else len(next(iter(batch.values())))
        masks = self._presence(batch, size)
        features: dict[str, torch.Tensor] = {}
        for m, encoder in self.encoders.items():
            mask = masks[m]
            if mask is None:  # the common case: no mask, no host sync
                features[m] = encoder(batch[m])
                continue
            rows = mask.nonzero(as_tuple=True)[0]
            if len(rows) == 0:
                zeros = torch.zeros(size, encoder.out_dim, device=mask.device)
                features[m] = zeros + zero_through(encoder) if self.training else zeros
                continue
            with running_batchnorm(encoder, active=self.training and len(rows) == 1):
                encoded = encoder(batch[m][rows])
            features[m] = encoded.new_zeros(size, encoded.shape[1]).index_put((rows,), encoded)
        return features, masks

    def _presence(self, batch: dict[str, torch.Tensor], size: int) -> dict[str, torch.Tensor | None]:
        device = batch["label"].device if "label" in batch else self.device
        masks: dict[str, torch.Tensor | None] = {}
        for m in self.encoders:
            if m in self.absent_modalities or m not in batch:
                masks[m] = torch.zeros(size, dtype=torch.bool, device=device)
            else:
                masks[m] = batch.get(f"{m}_present")
        if self.training and self.modality_dropout > 0 and len(self.encoders) == 2:
            masks = self._drop_modalities(masks, size, device)
        return masks

    def _drop_modalities(
        self, masks: dict[str, torch.Tensor | None], size: int, device: torch.device
    ) -> dict[str, torch.Tensor | None]:
        """Each sample that has both modalities loses one, chosen at random, with probability p."""
        first, second = self.encoders.keys()
        full = {
            m: masks[m] if masks[m] is not None else torch.ones(size, dtype=torch.bool, device=device)
            for m in masks
        }
        both = full[first] & full[second]
        drop = both & (torch.rand(size, device=device) < self.modality_dropout)
        drop_first = torch.rand(size, device=device) < 0.5
        return {first: full[first] & ~(drop & drop_first), second: full[second] & ~(drop & ~drop_first)}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(*self.encode(batch))

    def _step(
        self, batch: dict[str, torch.Tensor], metrics: MetricCollection, stage: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch)
        # Smoothing regularises training only; val/test report the plain cross-entropy.
        smoothing = self.label_smoothing if stage == "train" else 0.0
        loss = F.cross_entropy(logits.float(), batch["label"], label_smoothing=smoothing)
        metrics.update(logits.detach().float(), batch["label"])
        if stage == "train":
            self.log(
                "train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(batch["label"])
            )
        else:
            # A sample-weighted mean synced across ranks: equal to the single-process loss under DDP.
            mean_loss = self.val_loss if stage == "val" else self.test_loss
            mean_loss.update(loss.detach(), weight=len(batch["label"]))
            self.log(f"{stage}/loss", mean_loss, on_step=False, on_epoch=True)
        return loss, logits

    def _log_epoch_metrics(self, metrics: MetricCollection, stage: str) -> None:
        # Computed and logged once per epoch: handing the collection to log_dict in every step cost
        # ~4 ms of Python per step, more than an IMU training step on a GPU. compute() syncs ranks.
        if not all(metric.update_called for metric in metrics.values()):
            return
        values = {name: float(value) for name, value in metrics.compute().items()}
        self.log_dict(values, prog_bar=stage != "train")
        metrics.reset()

    def on_train_epoch_start(self) -> None:
        # Re-assert each encoder's own train(): it keeps frozen S3D blocks in eval mode, whatever
        # mode the loops left them in.
        for encoder in self.encoders.values():
            encoder.train()

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, self.train_metrics, "train")[0]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, self.val_metrics, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        _, logits = self._step(batch, self.test_metrics, "test")  # one forward for every test metric
        self.test_f1_per_class.update(logits.detach().float(), batch["label"])
        self.test_confusion.update(logits.detach().float(), batch["label"])
        if self.keep_test_outputs:
            self.test_outputs.append((batch["index"].cpu(), logits.detach().float().softmax(dim=1).cpu()))

    def on_train_epoch_end(self) -> None:
        self._log_epoch_metrics(self.train_metrics, "train")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch_metrics(self.val_metrics, "val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch_metrics(self.test_metrics, "test")
        self.test_details = {
            "f1_per_class": self.test_f1_per_class.compute().cpu(),
            "confusion_matrix": self.test_confusion.compute().cpu(),
        }
        self.test_f1_per_class.reset()
        self.test_confusion.reset()

    def configure_optimizers(self) -> Any:
        # Frozen parameters (S3D blocks outside trainable_blocks) get no optimizer state.
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = self.optimizer_factory(params=params)
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        config: dict[str, Any] = {"scheduler": scheduler}
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            config["monitor"] = PLATEAU_MONITOR  # stepped on the validation metric after each epoch
        return {"optimizer": optimizer, "lr_scheduler": config}
