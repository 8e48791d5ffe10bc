"""The gate's verdict, a blessing: every check with its value, its threshold and whether it passed, and whether
the candidate is blessed (all passed).

The gate (release.gate) makes one from the metrics; the release adds the infra check, the version and the time,
and keeps it as registry/blessings/<version>.json; a dry run writes it inside its verdict file. Files of every
release since the first load: the form has only grown (`version`, `infra` and `created` came with the infra
check; `reference` and `change` are on the change checks only, `interval` on the baseline's since blends).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from driftline.errors import RegistryError


class Check(BaseModel):
    """One check: NAME (e.g. `roc_auc vs baseline`), KIND (floor, fairness, baseline, dummy, champion, infra)."""

    name: str
    kind: str
    value: float | None
    threshold: str
    passed: bool
    reference: float | None = None  # a change check: the reference model's value, and the candidate's change
    change: float | None = None
    interval: list[float] | None = None  # a check against the baseline: the 95% paired interval of the change


class Blessing(BaseModel):
    """The checks and the verdict; a release's final blessing also names the VERSION, the INFRA check's result
    (release.infra: load_and_query) and when it was CREATED (ISO UTC)."""

    blessed: bool
    checks: list[Check]
    version: str | None = None
    infra: dict[str, Any] | None = None
    created: str | None = None

    @classmethod
    def of(cls, checks: list[Check], **final: Any) -> Blessing:
        """The verdict of CHECKS: blessed when every one passed."""
        return cls(blessed=all(c.passed for c in checks), checks=checks, **final)

    @property
    def failed(self) -> list[str]:
        """The names of the checks that failed."""
        return [c.name for c in self.checks if not c.passed]

    def to_json(self) -> dict:
        """The blessing as it is stored: the fields it was given (a gate's verdict has no version)."""
        return self.model_dump(mode="json", exclude_unset=True)

    @classmethod
    def read(cls, path: Path) -> Blessing:
        """The blessing stored at PATH; a RegistryError naming it where it is not one."""
        try:
            return cls.model_validate_json(path.read_text())
        except (OSError, ValidationError) as exc:
            raise RegistryError(f"{path} is not a readable blessing: {exc}") from None
