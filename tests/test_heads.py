"""Fusion heads through the real config path (conf/model/head/<name>.yaml): shapes, missing modalities,
which parameters get gradients, and one end-to-end stage-2 run."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F

from harlit.build import build_model
from harlit.models.classifier import HARClassifier
from harlit.models.heads.base import Head
from harlit.train import train

NUM_CLASSES = 12  # the synthetic dataset's
MODALITIES = ("imu", "video")

# (config name, extra overrides): every fusion head, and concat_mlp's learned missing value too.
CASES = {
    "concat_mlp": ("concat_mlp", ()),
    "concat_mlp-learned": ("concat_mlp", ("model.head.missing_value=learned",)),
    "late": ("late", ()),
    "gated": ("gated", ()),
    "attention": ("attention", ()),
    "attention-postnorm": ("attention", ("model.head.norm_first=false",)),  # post-norm: the other fast path
}
NEW_HEADS = ["late", "gated", "attention"]

GARBAGE = {
    "huge": lambda like: torch.full_like(like, 1e6),
    "random": lambda like: torch.randn_like(like) * 1e3,
    "nan": lambda like: torch.full_like(like, math.nan),
}


_BUILT: dict[str, HARClassifier] = {}


def stage2_model(make_cfg, case: str) -> HARClassifier:
    """A fresh copy of the stage-2 model with the `case` head, built once from the composed config."""
    if case not in _BUILT:
        name, extra = CASES[case]
        cfg = make_cfg(["+experiment=synthetic_stage2", f"model/head={name}", *extra])
        assert cfg.model.head._target_.startswith("harlit.models.heads.")
        torch.manual_seed(0)
        _BUILT[case] = build_model(cfg, NUM_CLASSES)
    return copy.deepcopy(_BUILT[case])


@pytest.fixture(params=list(CASES))
def model(request, make_cfg) -> HARClassifier:
    return stage2_model(make_cfg, request.param)


@pytest.fixture
def head(model: HARClassifier) -> Head:
    return model.head


def random_features(head: Head, batch: int = 5) -> dict[str, torch.Tensor]:
    return {m: torch.randn(batch, dim) for m, dim in head.feature_dims.items()}


def run_head(head: Head, features, present, mode: str) -> torch.Tensor:
    """The head's logits in `mode`: train (dropout drawn from a fixed seed), eval, or eval under no_grad
    (where nn.TransformerEncoder takes its fast path)."""
    head.train(mode == "train")
    torch.manual_seed(1234)
    if mode == "eval_no_grad":
        with torch.no_grad():
            return head(features, present)
    return head(features, present)


def test_the_head_takes_the_encoders_dims_and_outputs_logits(head: Head) -> None:
    assert head.feature_dims == {"imu": 96, "video": 1024}
    features = random_features(head)
    logits = run_head(head, features, {"imu": None, "video": None}, "eval")
    assert logits.shape == (5, NUM_CLASSES) and torch.isfinite(logits).all()
    # A None mask means every sample has the modality: the same as an all-True mask.
    all_true = {m: torch.ones(5, dtype=torch.bool) for m in MODALITIES}
    torch.testing.assert_close(run_head(head, features, all_true, "eval"), logits)


@pytest.mark.parametrize("mode", ["train", "eval", "eval_no_grad"])
@pytest.mark.parametrize("absent", MODALITIES)
def test_an_absent_modality_s_content_never_matters(head: Head, absent: str, mode: str) -> None:
    features = random_features(head)
    mask = torch.tensor([True, False, True, False, False])
    present = {m: (mask if m == absent else None) for m in MODALITIES}
    reference = run_head(head, features, present, mode)
    assert torch.isfinite(reference).all()
    for kind, fill in GARBAGE.items():
        garbage = {**features, absent: features[absent].clone()}
        garbage[absent][~mask] = fill(garbage[absent][~mask])
        logits = run_head(head, garbage, present, mode)
        assert torch.equal(logits, reference), (
            f"{kind} garbage in the absent {absent} rows changed the logits"
        )


@pytest.mark.parametrize("mode", ["eval", "eval_no_grad"])
def test_a_sample_s_logits_do_not_depend_on_the_rest_of_the_batch(head: Head, mode: str) -> None:
    features = random_features(head, batch=6)
    present = {
        "imu": torch.tensor([True, False, True, True, False, True]),
        "video": torch.tensor([True, True, False, True, True, False]),
    }
    together = run_head(head, features, present, mode)
    for i in range(6):
        alone = run_head(
            head,
            {m: f[i : i + 1] for m, f in features.items()},
            {m: p[i : i + 1] for m, p in present.items()},
            mode,
        )
        torch.testing.assert_close(alone[0], together[i], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("present_as", ["none", "all_true", "imu_absent"])
def test_every_parameter_of_a_head_is_in_every_training_step(head: Head, present_as: str) -> None:
    """DDP needs no search for unused parameters: a complete batch still reaches the learned missing value."""
    features = random_features(head, batch=8)
    everyone = None if present_as == "none" else torch.ones(8, dtype=torch.bool)
    present = {m: everyone for m in MODALITIES}
    if present_as == "imu_absent":
        present["imu"] = torch.zeros(8, dtype=torch.bool)
    head.train()
    F.cross_entropy(head(features, present), torch.arange(8) % NUM_CLASSES).backward()
    unused = [name for name, p in head.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused, f"parameters outside the step's graph: {unused}"


def tiny_batch(absent: str, batch: int = 4) -> dict[str, torch.Tensor]:
    """A stage-2 batch at the TINY sizes (8 frames of 32x32, 64 IMU samples) lacking `absent` everywhere."""
    return {
        "imu": torch.randn(batch, 6, 64),
        "video": torch.randint(0, 256, (batch, 3, 8, 32, 32), dtype=torch.uint8),
        "label": torch.arange(batch) % NUM_CLASSES,
        f"{absent}_present": torch.zeros(batch, dtype=torch.bool),
    }


@pytest.mark.parametrize("absent", MODALITIES)
def test_gradients_reach_only_the_encoders_of_present_modalities(model: HARClassifier, absent: str) -> None:
    (kept,) = [m for m in MODALITIES if m != absent]
    batch = tiny_batch(absent)
    model.train()
    logits = model(batch)
    assert logits.shape == (4, NUM_CLASSES) and torch.isfinite(logits).all()
    F.cross_entropy(logits, batch["label"]).backward()
    leaked = [
        name for name, p in model.encoders[absent].named_parameters() if p.grad is not None and p.grad.any()
    ]
    assert not leaked, f"the absent {absent} encoder got gradients: {leaked[:5]}"
    trained = [p for p in model.encoders[kept].parameters() if p.grad is not None and p.grad.any()]
    assert trained, f"the present {kept} encoder got no gradient"
    assert any(p.grad is not None and p.grad.any() for p in model.head.parameters())


# The new heads' own contracts.


@pytest.mark.parametrize("name", NEW_HEADS)
def test_a_sample_with_no_modality_gets_finite_input_independent_logits(make_cfg, name: str) -> None:
    head = stage2_model(make_cfg, name).head.eval()
    features = random_features(head, batch=3)
    nothing = {m: torch.tensor([False, False, True]) for m in MODALITIES}
    logits = head(features, nothing)
    assert torch.isfinite(logits).all()
    torch.testing.assert_close(logits[0], logits[1])  # different inputs, both absent: same logits
    if name == "late":
        assert torch.equal(logits[:2], torch.zeros(2, NUM_CLASSES))  # uniform


def own_parameters(head: Head, modality: str) -> list[torch.Tensor]:
    """The parameters (or rows of one) that only `modality`'s input goes through, in the new heads."""
    if hasattr(head, "classifiers"):  # late
        return list(head.classifiers[modality].parameters())
    params = list(head.projections[modality].parameters())  # gated, attention
    if hasattr(head, "modality_embeddings"):
        params.append(head.modality_embeddings[head.modalities.index(modality)])
    return params


@pytest.mark.parametrize("mode", ["train", "eval", "eval_no_grad"])
@pytest.mark.parametrize("absent", MODALITIES)
@pytest.mark.parametrize("name", NEW_HEADS)
def test_an_absent_modality_s_own_parameters_never_matter(
    make_cfg, name: str, absent: str, mode: str
) -> None:
    # Not merely its content: its projection/classifier/token is out (masked), not a zero stand-in.
    head = stage2_model(make_cfg, name).head
    features = random_features(head)
    mask = torch.tensor([True, False, True, False, False])
    present = {m: (mask if m == absent else None) for m in MODALITIES}
    reference = run_head(head, features, present, mode)
    with torch.no_grad():
        for p in own_parameters(head, absent):
            p.add_(torch.randn_like(p) * 10)
    logits = run_head(head, features, present, mode)
    assert torch.equal(logits[~mask], reference[~mask])
    assert not torch.allclose(logits[mask], reference[mask])  # the perturbation did reach present samples


@pytest.mark.parametrize("absent", MODALITIES)
def test_late_fusion_renormalises_over_the_present_modalities(make_cfg, absent: str) -> None:
    head = stage2_model(make_cfg, "late").head.eval()
    with torch.no_grad():
        head.modality_logits.copy_(torch.tensor([0.3, -0.4]))
    (kept,) = [m for m in MODALITIES if m != absent]
    features = random_features(head, batch=4)
    mask = torch.tensor([True, False, True, False])
    present = {absent: mask, kept: None}
    logits = head(features, present)
    own = head.classifiers[kept](features[kept])
    torch.testing.assert_close(logits[~mask], own[~mask])  # weight 1 on the present modality, not 0.5
    both = torch.softmax(head.modality_logits, 0)
    expected = both[0] * head.classifiers["imu"](features["imu"]) + both[1] * head.classifiers["video"](
        features["video"]
    )
    torch.testing.assert_close(logits[mask], expected[mask])


@pytest.mark.parametrize("absent", MODALITIES)
def test_the_gated_unit_gives_the_whole_gate_to_the_present_modality(make_cfg, absent: str) -> None:
    head = stage2_model(make_cfg, "gated").head.eval()
    (kept,) = [m for m in MODALITIES if m != absent]
    features = random_features(head, batch=4)
    present = {absent: torch.zeros(4, dtype=torch.bool), kept: None}
    expected = head.classifier(torch.tanh(head.projections[kept](features[kept])))
    torch.testing.assert_close(head(features, present), expected)


@pytest.mark.parametrize("layers", [1, 2])
def test_the_attention_head_s_depth_and_width_are_configurable(make_cfg, layers: int) -> None:
    cfg = make_cfg(
        [
            "+experiment=synthetic_stage2",
            "model/head=attention",
            f"model.head.num_layers={layers}",
            "model.head.d_model=32",
            "model.head.nhead=2",
        ]
    )
    head = build_model(cfg, NUM_CLASSES).head
    assert len(head.encoder.layers) == layers
    features = random_features(head, batch=3)
    present = {"imu": torch.tensor([True, False, True]), "video": torch.tensor([False, True, True])}
    for mode in ("train", "eval", "eval_no_grad"):
        assert run_head(head, features, present, mode).shape == (3, NUM_CLASSES)


def test_stage2_with_the_attention_head_and_classes_hidden_from_the_imu(make_cfg, tmp_path) -> None:
    # Hidden classes make training samples that lack the IMU: the masked path runs under Lightning.
    cfg = make_cfg(
        ["+experiment=synthetic_stage2", "model/head=attention", "data.num_hidden=3", "data.hidden_from=imu"]
    )
    returned = train(cfg)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["stage"] == 2 and metrics["hidden_from"] == "imu" and len(metrics["hidden_classes"]) == 3
    assert metrics["test/top1"] == returned["test/top1"]
    assert all(math.isfinite(metrics[k]) for k in ("test/loss", "test/top1", "test/f1_macro"))
