"""Registered versions, their aliases and the append-only history of alias moves, as plain text for git.

`registry.json` holds every version's lineage, the aliases and the running rollout (registry.rollout: a
candidate beside the champion); `history.jsonl` gets one line per alias move, a rollout's start and end
among them (the candidate alias set, then removed). The exported model files live beside them in
`models/`, tracked by DVC rather than git.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from driftline.errors import RegistryError

CHAMPION, CHALLENGER, CANDIDATE = "champion", "challenger", "candidate"


def now() -> str:
    """The current UTC time, ISO 8601."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Registry:
    """The registry folder: versions, aliases, history, blessings, cards and exported models."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        state = json.loads(self.state_path.read_text()) if self.state_path.is_file() else {}
        self.versions: list[dict] = state.get("versions", [])
        self.aliases: dict[str, str] = state.get("aliases", {})
        self.rollout: dict | None = state.get("rollout")  # version, mode, canary_share, started, champion

    @property
    def state_path(self) -> Path:
        return self.dir / "registry.json"

    @property
    def history_path(self) -> Path:
        return self.dir / "history.jsonl"

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
        if not self.history_path.is_file():
            return []
        return [json.loads(line) for line in self.history_path.read_text().splitlines() if line.strip()]

    def register(self, entry: dict) -> None:
        """Add a new version and save."""
        if any(e["version"] == entry["version"] for e in self.versions):
            raise RegistryError(f"version '{entry['version']}' is already registered")
        self.versions.append(entry)
        self.save()

    def move(self, alias: str, version: str, reason: str, forced: bool = False, **extra) -> dict:
        """Point ALIAS at VERSION, append the move to the history and save; returns the history record (with
        EXTRA's keys: a rollout's mode, a decision's evidence).

        ALIAS already at VERSION moves nothing: the record says `moved: false`, and neither the registry nor
        the history changes (a line "V -> V" would make V its own previous champion, and hide the one before).
        """
        entry = self.get(version)
        record = {
            "time": now(), "alias": alias, "from": self.aliases.get(alias), "to": entry["version"],
            "reason": reason, "blessed": entry["blessed"], "forced": forced,
            "blessing": str(self.blessing_path(entry["version"]).relative_to(self.dir)), **extra,
        }
        if record["from"] == record["to"]:
            return record | {"moved": False}
        self.aliases[alias] = entry["version"]
        self.save()
        self.append_history(record)
        return record | {"moved": True}

    def remove(self, alias: str, reason: str, **extra) -> dict:
        """Remove ALIAS (a rollout's candidate when it ends), recorded in the history as a move to nothing."""
        if alias not in self.aliases:
            raise RegistryError(f"there is no {alias} to remove")
        record = {"time": now(), "alias": alias, "from": self.aliases.pop(alias), "to": None, "reason": reason,
                  **extra}
        self.save()
        self.append_history(record)
        return record

    def append_history(self, record: dict) -> None:
        self.history_path.parent.mkdir(parents=True, exist_ok=True)
        with self.history_path.open("a") as log:
            log.write(json.dumps(record) + "\n")

    def previous_champion(self) -> str:
        """The champion before the current one: where the last move that installed the current one came from,
        passing over moves from the current one to itself (histories written before such moves were refused)."""
        current = self.aliases.get(CHAMPION)
        moves = [r for r in self.history() if r["alias"] == CHAMPION and r["to"] == current and r["from"] != current]
        if current is None or not moves or moves[-1]["from"] is None:
            raise RegistryError("there is no previous champion to roll back to")
        return moves[-1]["from"]

    def save(self) -> None:
        """Write registry.json atomically (a crash never leaves half a file)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        state = {"aliases": dict(sorted(self.aliases.items())), "versions": self.versions}
        text = json.dumps(state | ({"rollout": self.rollout} if self.rollout else {}), indent=1)
        with tempfile.NamedTemporaryFile("w", dir=self.dir, delete=False, suffix=".tmp") as handle:
            handle.write(text + "\n")
        os.replace(handle.name, self.state_path)
