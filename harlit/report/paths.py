"""Keeping the machine out of a report: reports are committed, so they name no absolute or home path.

Run folders are shown relative to the folder the report is written to, and a Hydra override whose value
is such a path (`data.root=/data/utd_mhad`) is shown with a placeholder naming its key
(`data.root=<data.root>`): the setting is documented, the machine's file layout is not.
"""

from __future__ import annotations

import os
from pathlib import Path


def shown_folder(folder: Path, report_dir: Path) -> str:
    """`folder` relative to `report_dir`, e.g. '../runs', or '.' for the report's own folder."""
    try:
        return os.path.relpath(folder, report_dir)
    except ValueError:  # Windows: no relative path between two drives; the name still says which folder
        return folder.name


def is_machine_path(value: str) -> bool:
    """Whether an override value (quoted or not) is an absolute path or starts with ~."""
    value = value.strip().strip("'\"")
    return os.path.isabs(value) or value.startswith("~")


def shown_override(override: str) -> str:
    """`key=value` as given, or `key=<key>` when the value is a machine path (the key without + or ~)."""
    key, sep, value = override.partition("=")
    if sep and is_machine_path(value):
        return f"{key}=<{key.lstrip('+~')}>"
    return override
