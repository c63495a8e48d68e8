"""harlit: multi-stage feature fusion of RGB video and IMU for human activity recognition."""

from pathlib import Path

__version__ = "0.1.0"

# The Hydra config tree lives beside the package (editable install), see README "Layout".
CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"


def load_model(path: str | Path, device: str = "cpu"):  # noqa: ANN201  (harlit.trained.TrainedModel)
    """A trained harlit model from a model.pt, a run directory or a Lightning checkpoint (harlit.trained)."""
    from harlit.trained import load_model as _load_model

    return _load_model(path, device)
