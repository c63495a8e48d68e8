"""User-facing errors: one sentence that names the thing and says what to do."""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

# How torch re-raises an error of a DataLoader worker (or its pin-memory thread) in the main process:
# `exc_type("Caught X in DataLoader worker process N.\nOriginal Traceback (most recent call last):...")`.
_FROM_BACKGROUND = re.compile(r"Caught \w+ in [^\n]+\.\nOriginal Traceback \(most recent call last\):\n")


class HarlitError(Exception):
    """Bad input from the user (config, files, checkpoints). Printed without a traceback.

    Raised in a DataLoader worker, it reaches the main process as torch rebuilds it: with the worker's
    whole traceback for a message. The error keeps the sentence it was raised with, as a run without
    workers would print it, and the traceback in `background_traceback`.
    """

    def __init__(self, *args: Any) -> None:
        self.background_traceback: str | None = None
        if len(args) == 1 and isinstance(args[0], str) and _FROM_BACKGROUND.match(args[0]):
            self.background_traceback = args[0]
            args = (_raised_sentence(args[0], type(self)),)
        super().__init__(*args)


def _raised_sentence(wrapped: str, kind: type[BaseException]) -> str:
    """The message an error of `kind` was raised with, from the traceback text that torch wraps it in."""
    # The traceback ends with the error's own line: "harlit.errors.HarlitError: <message>" (possibly several lines).
    name = f"{kind.__module__}.{kind.__qualname__}"
    start = wrapped.rfind(f"\n{name}: ")
    if start < 0:
        return wrapped  # not the form expected: better the whole text than a lost message
    return wrapped[start + len(name) + 3 :].rstrip("\n")


def exit_on_user_error(fn: F) -> F:
    """Turn a HarlitError into one line on stderr and exit code 2, instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HarlitError as err:
            if err.background_traceback:
                log.debug("Raised in a loader worker:\n%s", err.background_traceback)
            log.error("%s", err)
            print(f"harlit: error: {err}", file=sys.stderr, flush=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]
