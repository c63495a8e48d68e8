"""harlit: multi-stage feature fusion of RGB video and IMU for human activity recognition."""

from pathlib import Path

__version__ = "0.1.0"

from harlit.config import CONFIG_DIR  # noqa: E402,F401  (the config tree; defined in harlit/config.py)


def load_model(path: str | Path, device: str = "cpu"):  # noqa: ANN201  (harlit.trained.TrainedModel)
    """A trained harlit model from a model.pt, a run directory or a Lightning checkpoint (harlit.trained)."""
    from harlit.trained import load_model as _load_model

    return _load_model(path, device)
