"""Named crash points for the fault tests: `failpoint(name)` kills this process on the spot when the environment
variable DRIFTLINE_FAILPOINT names that point, and does nothing otherwise.

SIGKILL, not an exception: no `finally`, no flush, no cleanup runs, as when a machine loses power or the OOM killer
strikes, so a test sees exactly what such a crash leaves on disk.
"""

from __future__ import annotations

import os
import signal

VARIABLE = "DRIFTLINE_FAILPOINT"


def failpoint(name: str) -> None:
    """Kill this process now when DRIFTLINE_FAILPOINT is NAME."""
    if os.environ.get(VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)
