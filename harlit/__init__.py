"""harlit: multi-stage feature fusion of RGB video and IMU for human activity recognition."""

from pathlib import Path

__version__ = "0.1.0"

# The Hydra config tree lives beside the package (editable install), see README "Layout".
CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"
