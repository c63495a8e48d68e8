"""Loaded at interpreter start when this folder is on PYTHONPATH: logs every os.replace per process.

harlit writes every file that matters atomically (temp file + os.replace), so the log says which
rank (RANK env, '-' for a process that is no rank) wrote which file.
"""

import os

_LOG = os.environ.get("HARLIT_WRITE_PROBE")
_replace = os.replace


def _logged_replace(src, dst, *args, **kwargs):
    result = _replace(src, dst, *args, **kwargs)
    if _LOG:
        with open(_LOG, "a") as handle:
            handle.write(f"{os.environ.get('RANK', '-')}\t{os.fspath(dst)}\n")
    return result


os.replace = _logged_replace
