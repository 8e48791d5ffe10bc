"""How much a run says: driftline's own lines, and the third-party chatter a user can do nothing about only when
asked for (`driftline --verbose`, or DRIFTLINE_VERBOSE=1, which the stage processes DVC starts inherit).

Silencing happens at the source and only for the call that makes the noise: a logger's level, or a warnings
filter that names the warning and the package it comes from, both restored when the call ends.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

VERBOSE = "DRIFTLINE_VERBOSE"
# Set by the runner that prints one line per stage itself (orchestration.pipeline): the stage processes then
# keep their own summary lines to themselves, which a plain `dvc repro` shows.
QUIET_STAGES = "DRIFTLINE_QUIET_STAGES"

# (category, message, module) of warnings about the libraries' own internals, not about our use of them.
LIBRARY_WARNINGS = (
    # torch 2.13 deprecated LeafSpec; Lightning 2.6.6's _pytree still checks for it on every batch
    (FutureWarning, r"`isinstance\(treespec, LeafSpec\)` is deprecated", r"lightning\.pytorch\.utilities\._pytree"),
)


def verbose() -> bool:
    """Whether the user asked for everything (DRIFTLINE_VERBOSE set and not 0)."""
    return os.environ.get(VERBOSE, "") not in ("", "0")


def stage_line(text: str, stream: TextIO | None = None) -> None:
    """A stage's own summary line, to STREAM (stdout by default): shown by `dvc repro`, left to the runner's line
    under `driftline run` (unless verbose)."""
    if verbose() or not os.environ.get(QUIET_STAGES):
        print(text, file=stream or sys.stdout, flush=True)


class Stderr(logging.StreamHandler):
    """A handler that writes to sys.stderr as it is when a line is logged, not as it was when the handler was
    made (a test's captured stream, a CLI runner's, is replaced after it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:  # StreamHandler.__init__ sets it; the property reads it live
        pass


def show_logs() -> None:
    """driftline's own log lines, as they are, on stderr: its notices (INFO) where a stage runs alone, only its
    warnings under a runner that prints one line per stage (unless verbose). Entry points call it once."""
    logger = logging.getLogger("driftline")
    if not any(isinstance(h, Stderr) for h in logger.handlers):
        handler = Stderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    quieted = os.environ.get(QUIET_STAGES) and not verbose()
    logger.setLevel(logging.WARNING if quieted else logging.INFO)


@contextmanager
def quiet(*loggers: str, level: int = logging.WARNING) -> Iterator[None]:
    """LOGGERS (names: their children too) raised to LEVEL and LIBRARY_WARNINGS ignored for the block; nothing
    changes when verbose."""
    if verbose():
        yield
        return
    previous = {name: logging.getLogger(name).level for name in loggers}
    try:
        for name in loggers:
            logging.getLogger(name).setLevel(max(level, logging.getLogger(name).getEffectiveLevel()))
        with warnings.catch_warnings():
            for category, message, module in LIBRARY_WARNINGS:
                warnings.filterwarnings("ignore", message, category, module)
            yield
    finally:
        for name, value in previous.items():
            logging.getLogger(name).setLevel(value)
