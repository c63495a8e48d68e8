"""harlit: multi-stage feature fusion of RGB video and IMU for human activity recognition."""

from pathlib import Path

__version__ = "0.1.0"

# The config tree's location is harlit.config.CONFIG_DIR; importing harlit itself stays light.


def load_model(path: str | Path, device: str = "cpu"):  # noqa: ANN201  (harlit.trained.TrainedModel)
    """A trained harlit model from a model.pt, a run directory or a Lightning checkpoint (harlit.trained)."""
    from harlit.trained import load_model as _load_model

    return _load_model(path, device)
