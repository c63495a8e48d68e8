"""Loading a file never runs code from it: every model, encoder, checkpoint and weights file that harlit
reads goes through `load_weights_only`, which is `torch.load(weights_only=True)`.

A file that holds pickled Python objects (which could run code when unpickled) is refused in one sentence
that says how to convert a file the user trusts: `python -m harlit.convert IN OUT` loads it once,
knowingly, and writes a weights-only copy.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from harlit.errors import HarlitError

CONVERT_HINT = "python -m harlit.convert {path} {path}.weights_only.pt"


def refused_as_code(err: BaseException) -> bool:
    """Whether torch's weights-only unpickler refused a pickled Python object in the file (it names the
    GLOBAL it would have imported), rather than the file being damaged."""
    message = str(err)
    return (
        isinstance(err, pickle.UnpicklingError)
        and "Weights only load failed" in message
        and "GLOBAL" in message
    )


def pickled_code_error(what: str, path: Path) -> HarlitError:
    return HarlitError(
        f"{what} {path} holds pickled Python objects, which harlit never unpickles because they can run code; "
        f"if you trust the file, write a weights-only copy once with `{CONVERT_HINT.format(path=path)}` and use that."
    )


def load_weights_only(path: str | Path, what: str, fix: str = "check the file") -> Any:
    """The file's tensors and plain containers; HarlitError naming `what` and the file when it holds pickled
    objects (`pickled_code_error`) or cannot be read (`fix` says what to do)."""
    path = Path(path).expanduser()
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        if refused_as_code(err):
            raise pickled_code_error(what, path) from None
        raise HarlitError(f"{what} {path} is unreadable ({type(err).__name__}); {fix}.") from None
