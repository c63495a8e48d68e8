"""User-facing errors: one sentence that names the thing and says what to do."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


class HarlitError(Exception):
    """Bad input from the user (config, files, checkpoints). Printed without a traceback."""


def exit_on_user_error(fn: F) -> F:
    """Turn a HarlitError into one line on stderr and exit code 2, instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HarlitError as err:
            log.error("%s", err)
            print(f"harlit: error: {err}", file=sys.stderr, flush=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]
