"""Named crash points for the fault tests: `failpoint(name)` kills this process on the spot when the environment
variable DRIFTLINE_FAILPOINT names that point, and does nothing otherwise. `NAME:N` kills it the Nth time the
process reaches the point (`train.epoch:2`: once the first epoch is done).

SIGKILL, not an exception: no `finally`, no flush, no cleanup runs, as when a machine loses power or the OOM killer
strikes, so a test sees exactly what such a crash leaves on disk.
"""

from __future__ import annotations

import collections
import os
import signal

VARIABLE = "DRIFTLINE_FAILPOINT"
_reached: collections.Counter[str] = collections.Counter()


def failpoint(name: str) -> None:
    """Kill this process now when DRIFTLINE_FAILPOINT is NAME, or NAME:N and this is the Nth time here."""
    wanted, _, nth = os.environ.get(VARIABLE, "").partition(":")
    if wanted != name:
        return
    _reached[name] += 1
    if _reached[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
