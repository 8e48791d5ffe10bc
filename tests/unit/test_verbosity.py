"""The quiet switch: third-party loggers and library warnings off for a call only, everything back with --verbose."""

import io
import logging
import sys
import warnings

import pytest

from driftline.core.verbosity import LIBRARY_WARNINGS, QUIET_STAGES, VERBOSE, quiet, show_logs, stage_line


def library_warning() -> None:
    category, message, module = LIBRARY_WARNINGS[0]
    text = message.replace("\\", "")
    warnings.warn_explicit(text, category, "file.py", 1, module=module.replace("\\", ""))


def test_quiet_raises_a_logger_for_the_block_and_restores_it(monkeypatch):
    monkeypatch.delenv(VERBOSE, raising=False)
    logger = logging.getLogger("driftline-test-noisy")
    logger.setLevel(logging.INFO)
    with quiet("driftline-test-noisy"):
        assert not logger.isEnabledFor(logging.INFO) and logger.isEnabledFor(logging.WARNING)
    assert logger.level == logging.INFO


def test_quiet_ignores_the_named_library_warnings_only_inside_the_block(monkeypatch):
    monkeypatch.delenv(VERBOSE, raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet():
            library_warning()
            warnings.warn("one of ours", UserWarning, stacklevel=1)
        library_warning()
    assert [str(w.message) for w in caught] == ["one of ours", LIBRARY_WARNINGS[0][1].replace("\\", "")]


def test_verbose_changes_nothing(monkeypatch):
    monkeypatch.setenv(VERBOSE, "1")
    logger = logging.getLogger("driftline-test-verbose")
    logger.setLevel(logging.INFO)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet("driftline-test-verbose"):
            assert logger.isEnabledFor(logging.INFO)
            library_warning()
    assert len(caught) == 1


@pytest.mark.parametrize(("env", "shown"), [({}, True), ({QUIET_STAGES: "1"}, False),
                                            ({QUIET_STAGES: "1", VERBOSE: "1"}, True)])
def test_a_stage_line_is_left_to_the_runner_unless_verbose(monkeypatch, capsys, env, shown):
    for name in (VERBOSE, QUIET_STAGES):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    stage_line("validate: {'rows': 3}")
    assert (capsys.readouterr().out == "validate: {'rows': 3}\n") is shown


def test_driftline_logs_its_notices_alone_and_only_its_warnings_under_a_runner(monkeypatch):
    logger = logging.getLogger("driftline")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    monkeypatch.delenv(VERBOSE, raising=False)
    monkeypatch.delenv(QUIET_STAGES, raising=False)
    show_logs()
    assert logger.level == logging.INFO and len(logger.handlers) == 1
    monkeypatch.setenv(QUIET_STAGES, "1")
    show_logs()
    assert logger.level == logging.WARNING and len(logger.handlers) == 1  # called twice, one handler
    monkeypatch.setenv(VERBOSE, "1")
    show_logs()
    assert logger.level == logging.INFO


def test_driftline_logs_to_the_stderr_of_the_moment(monkeypatch):
    """A line goes to sys.stderr as it is when logged, not to the stream of when show_logs ran, which a CLI
    runner or a test's capture may have closed since."""
    logger = logging.getLogger("driftline")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.delenv(VERBOSE, raising=False)
    monkeypatch.delenv(QUIET_STAGES, raising=False)
    gone = io.StringIO()
    monkeypatch.setattr(sys, "stderr", gone)
    show_logs()
    gone.close()
    now = io.StringIO()
    monkeypatch.setattr(sys, "stderr", now)
    logging.getLogger("driftline.test").info("logged")
    assert now.getvalue() == "logged\n"
