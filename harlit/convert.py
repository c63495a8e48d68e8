"""`python -m harlit.convert IN OUT`: a weights-only copy of a checkpoint or weights file you trust.

harlit reads every file with `torch.load(weights_only=True)` (harlit.safe_load), which refuses pickled
Python objects because unpickling them can run code. A file written elsewhere (an older Lightning, numpy
arrays in a checkpoint, a custom hyper-parameter class) may hold such objects. This command loads IN once,
fully and knowingly: run it only on a file whose origin you trust. It then writes OUT with the same content
as tensors and plain containers (numpy arrays become tensors, numpy scalars and dict subclasses become
plain values), checks that OUT loads weights-only, and refuses, naming the entry, anything else.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harlit.errors import HarlitError, exit_on_user_error
from harlit.io import atomic_write_bytes
from harlit.safe_load import load_weights_only

PLAIN = (str, int, float, bool, type(None), bytes)


def to_plain_data(value: Any, where: str = "the file") -> Any:
    """`value` as tensors and plain containers only, or HarlitError naming the first entry that is neither."""
    if isinstance(value, (torch.Tensor, *PLAIN)):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise HarlitError(f"{where} is a numpy array of Python objects; it cannot be made weights-only.")
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {key: to_plain_data(item, f"{where}[{key!r}]") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        items = [to_plain_data(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise HarlitError(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__}, not data; this file cannot be made "
        "weights-only (save its tensors with torch.save instead)."
    )


def convert(source: Path, target: Path) -> Path:
    """Load `source` knowingly (the user trusts it), write its plain-data copy to `target`, and check it."""
    if not source.is_file():
        raise HarlitError(f"{source} does not exist; give the file to convert.")
    if target.exists():
        raise HarlitError(f"{target} exists already; give a new file name for the weights-only copy.")
    content = torch.load(source, map_location="cpu", weights_only=False)  # the one knowing full load
    plain = to_plain_data(content)
    atomic_write_bytes(target, lambda handle: torch.save(plain, handle))
    load_weights_only(target, "the converted file")
    return target


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    target = convert(Path(args[0]).expanduser(), Path(args[1]).expanduser())
    print(f"wrote {target}: loads with torch.load(weights_only=True)")


if __name__ == "__main__":
    main()
