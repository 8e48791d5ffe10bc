"""Registered versions, their aliases and the append-only history of alias moves, as plain text for git.

`registry.json` holds every version's lineage, the aliases and the running rollout (registry.rollout: a
candidate beside the champion); `history.jsonl` gets one line per alias move, a rollout's start and end
among them (the candidate alias set, then removed). The exported model files live beside them in
`models/`, tracked by DVC rather than git.

Every change is a transaction (`with registry.transaction():`, which register, move and remove open for
themselves): it holds the registry's lock, reads the state again, and writes its history lines and the new state
together or not at all (registry/journal.py: the format and the steps). A Registry read outside one is a snapshot,
for reading: registry.json, and the lines of history.jsonl that registry.json committed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from driftline.core.layout import iso_seconds
from driftline.errors import RegistryError

CHAMPION, CHALLENGER, CANDIDATE = "champion", "challenger", "candidate"
STATE, HISTORY = "registry.json", "history.jsonl"
BACKUP, UNCOMMITTED = "registry.json.bak", "history.jsonl.uncommitted"  # the last good state; lines set aside
log = logging.getLogger(__name__)


def now() -> str:
    """The current UTC time, ISO 8601."""
    return iso_seconds()


def read_state(directory: Path) -> dict:
    """registry.json ({} where there is none); a RegistryError naming it and its last good copy where it is not a
    JSON object (cut short, merged by hand)."""
    path = directory / STATE
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        problem = f"a JSON {type(state).__name__}, not an object"
    except ValueError as error:
        state, problem = None, f"not JSON: {error}"
    if isinstance(state, dict):
        return state
    backup = directory / BACKUP
    remedy = (f"its last good copy is {backup}: check it, then put it back (cp {backup} {path})" if backup.is_file()
              else f"there is no last good copy ({BACKUP}) beside it: restore it from git (git checkout -- {path})")
    raise RegistryError(f"the registry at {directory} cannot be read: {path} is {problem}; {remedy}")


def whole_lines(data: bytes) -> int:
    """How many lines of a history without `history_lines` (written before it was recorded) count: its whole lines
    (ending in a newline), less a last one that does not parse (an append cut short)."""
    whole = data[:data.rfind(b"\n") + 1].split(b"\n")[:-1]
    last = whole[-1].strip() if whole else b""
    try:
        json.loads(last or b"{}")
    except ValueError:
        return len(whole) - 1
    return len(whole)


def lines_end(data: bytes, lines: int) -> int | None:
    """Where the first LINES lines of DATA end; None when it has fewer."""
    end = 0
    for _ in range(lines):
        found = data.find(b"\n", end)
        if found < 0:
            return None
        end = found + 1
    return end


def parse(path: Path, data: bytes) -> list[dict]:
    """The records of DATA (committed lines of PATH); a RegistryError naming the line that is not JSON."""
    records = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError as error:
            raise RegistryError(f"{path} line {number} is not JSON ({error}): the history was edited or damaged; "
                                "restore the registry folder from git") from None
    return records


class History(NamedTuple):
    """history.jsonl as registry.json committed it: the records, how many lines they are, the offset where they end,
    and how many bytes lie past it (a write that did not finish)."""

    records: list[dict]
    lines: int
    end: int
    extra: int


def read_history(directory: Path, committed: int | None) -> History:
    """history.jsonl's first COMMITTED lines (None: a registry written before `history_lines`: its whole lines)."""
    path = directory / HISTORY
    data = path.read_bytes() if path.is_file() else b""
    lines = whole_lines(data) if committed is None else committed
    end = lines_end(data, lines)
    if end is None:
        raise RegistryError(f"{path} has fewer than the {lines} lines that registry.json committed: it was cut or "
                            "replaced; restore the registry folder from git")
    return History(parse(path, data[:end]), lines, end, len(data) - end)


def warn_uncommitted(directory: Path, revision: int, extra: int) -> None:
    """Log the EXTRA bytes that a reader of the registry at REVISION leaves out of history.jsonl, unless a write
    has committed since (they may be its lines)."""
    if read_state(directory).get("revision", 0) != revision:
        return
    log.warning("%s: %d byte(s) past the lines that registry.json committed are left out (a write that did not "
                "finish, or one still running); the next registry write moves them to %s", directory / HISTORY,
                extra, UNCOMMITTED)


class Registry:
    """The registry folder: versions, aliases, history, blessings, cards and exported models."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.load()

    def load(self) -> None:
        """Read registry.json again (the history is read when first asked for)."""
        state = read_state(self.dir)
        self.versions: list[dict] = state.get("versions", [])
        self.aliases: dict[str, str] = state.get("aliases", {})
        self.rollout: dict | None = state.get("rollout")  # version, mode, canary_share, started, champion
        self.revision: int = state.get("revision", 0)
        self.history_lines: int | None = state.get("history_lines")  # None: written before it was recorded
        self._history: list[dict] | None = None
        self._pending: list[dict] | None = None  # the history records of the open transaction

    @property
    def state_path(self) -> Path:
        return self.dir / STATE

    @property
    def history_path(self) -> Path:
        return self.dir / HISTORY

    def model_file(self, version: str) -> Path:
        return self.dir / "models" / f"{version}.bentomodel"

    def blessing_path(self, version: str) -> Path:
        return self.dir / "blessings" / f"{version}.json"

    def card_path(self, version: str, suffix: str = ".md") -> Path:
        return self.dir / "cards" / f"{version}{suffix}"

    def card_files(self, version: str) -> dict[str, Path]:
        """The card's files as the bento ships them (name in the bento: path here)."""
        return {f"model_card{suffix}": self.card_path(version, suffix) for suffix in (".md", ".json")}

    def get(self, version: str) -> dict:
        """The entry of VERSION (a version id or an alias)."""
        if version == CANDIDATE and version not in self.aliases:
            raise RegistryError("there is no candidate: no rollout is running (`driftline rollout status`)")
        if version in (CHAMPION, CHALLENGER) and version not in self.aliases:
            raise RegistryError(f"there is no {version} yet: `make run` or `driftline release` registers and "
                                "promotes a blessed model")
        version = self.aliases.get(version, version)
        for entry in self.versions:
            if entry["version"] == version:
                return entry
        known = ", ".join(e["version"] for e in self.versions) or "none yet"
        raise RegistryError(f"no registered version '{version}' (registered: {known})")

    def by_model_tag(self, model_tag: str) -> dict | None:
        return next((e for e in self.versions if e["model_tag"] == model_tag), None)

    def aliases_of(self, version: str) -> list[str]:
        return sorted(a for a, v in self.aliases.items() if v == version)

    def history(self) -> list[dict]:
        """The committed history records, oldest first (and those of the open transaction)."""
        if self._history is None:
            found = read_history(self.dir, self.history_lines)
            if found.extra:
                warn_uncommitted(self.dir, self.revision, found.extra)
            self._history = found.records
        return self._history

    @contextmanager
    def transaction(self) -> Iterator[Registry]:
        """A read-modify-write of the registry: the lock is held, the state read again, and on leaving the block
        the history records made in it and the new state are written as one change; an exception in the block
        writes nothing (and the state is read again). A block inside another joins it."""
        # the writer's half is loaded by writers only: the service, which reads, needs neither it nor filelock
        from driftline.registry import journal

        if self._pending is not None:
            yield self
            return
        with journal.locked(self.dir):
            self.load()
            found, read = read_history(self.dir, self.history_lines), self.fingerprint()
            if found.extra:
                journal.set_aside(self.dir, found.end)
            self._history, self.history_lines, self._pending = found.records, found.lines, []
            try:
                yield self
                if self._pending or self.fingerprint() != read:
                    written = journal.commit(self.dir, self.state(), self._pending, self.revision, found.lines)
                    self.revision, self.history_lines = written["revision"], written["history_lines"]
            except BaseException:
                self.load()
                raise
            self._pending = None

    def register(self, entry: dict) -> None:
        """Add a new version."""
        with self.transaction():
            if any(e["version"] == entry["version"] for e in self.versions):
                raise RegistryError(f"version '{entry['version']}' is already registered")
            self.versions.append(entry)

    def move(self, alias: str, version: str, reason: str, forced: bool = False, rollback: bool = False,
             **extra) -> dict:
        """Point ALIAS at VERSION and record the move in the history; returns the history record (with EXTRA's
        keys: a rollout's mode, a decision's evidence). A champion's move says whether it is a ROLLBACK, so that
        the champion's history replays exactly (previous_champion).

        ALIAS already at VERSION moves nothing: the record says `moved: false`, and neither the registry nor
        the history changes (a line "V -> V" would make V its own previous champion, and hide the one before).
        """
        with self.transaction():
            entry = self.get(version)
            record = {
                "time": now(), "alias": alias, "from": self.aliases.get(alias), "to": entry["version"],
                "reason": reason, "blessed": entry["blessed"], "forced": forced,
                "blessing": str(self.blessing_path(entry["version"]).relative_to(self.dir)),
                **({"rollback": rollback} if alias == CHAMPION else {}), **extra,
            }
            if record["from"] == record["to"]:
                return record | {"moved": False}
            self.aliases[alias] = entry["version"]
            self.record(record)
            return record | {"moved": True}

    def remove(self, alias: str, reason: str, **extra) -> dict:
        """Remove ALIAS (a rollout's candidate when it ends), recorded in the history as a move to nothing."""
        with self.transaction():
            if alias not in self.aliases:
                raise RegistryError(f"there is no {alias} to remove")
            record = {"time": now(), "alias": alias, "from": self.aliases.pop(alias), "to": None, "reason": reason,
                      **extra}
            self.record(record)
            return record

    def record(self, record: dict) -> None:
        """Add RECORD to the open transaction's history lines."""
        self.history().append(record)
        self._pending.append(record)

    def champions(self) -> list[str]:
        """The champion history as a stack: each move installs its version on top, a rollback pops back down to the
        version it returned to. A history written before rollbacks were marked has no `rollback` key: there a move
        back to the champion before the current one reads as a rollback."""
        stack: list[str] = []
        for record in self.history():
            to = record.get("to")
            if record.get("alias") != CHAMPION or to is None or to == record.get("from"):
                continue  # another alias, or a self-move (histories written before they were refused hold some)
            if record.get("rollback", len(stack) > 1 and stack[-2] == to):
                while stack and stack[-1] != to:
                    stack.pop()
            if not stack or stack[-1] != to:
                stack.append(to)
        return stack

    def previous_champion(self) -> str:
        """Where a rollback goes: down the champion history (champions), past the current champion and the versions
        a rollout decision refused."""
        current = self.get(CHAMPION)["version"]
        below = self.champions()
        if below and below[-1] == current:
            below.pop()
        refused = {e["version"] for e in self.versions if e.get("refused")}
        for version in reversed(below):
            if version != current and version not in refused:
                return version
        raise RegistryError(f"nothing left to roll back to: there is no previous champion before {current} that a "
                            "rollout decision did not refuse (`driftline promote VERSION` chooses one by hand)")

    def state(self) -> dict:
        """What registry.json holds besides its revision and committed history length."""
        return {"aliases": dict(sorted(self.aliases.items())), "versions": self.versions} | (
            {"rollout": self.rollout} if self.rollout else {})

    def fingerprint(self) -> str:
        """The state as text: a transaction that leaves it as it found it (and records nothing) writes nothing."""
        return json.dumps(self.state(), sort_keys=True, default=str)
