"""The record of one `driftline rollout decide`: the evidence the policy read, its outcome and what moved.

release.decide writes it as registry/decisions/<candidate version>/<UTC stamp>.json before anything moves; the
history's records of the moves it makes carry its path as `evidence`; the ledger lists it. Every decision
written since the first rollout loads: the form has not changed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

Outcome = Literal["promote", "wait", "rollback"]


class Window(BaseModel):
    """The log window judged, ISO UTC: from the rollout's start to the decision."""

    start: str
    end: str


class Records(BaseModel):
    """Each arm's records in the window; PAIRED: the champion's records the candidate scored too (shadow; None in
    canary); LABELLED: the count the policy reads."""

    champion: int
    candidate: int
    paired: int | None
    labelled: int


class Realised(BaseModel):
    """The labelled comparison (release.comparison.compare): each arm's primary METRIC, the candidate's
    difference with its INTERVAL, and IMPROVEMENT, that interval in the metric's direction."""

    metric: str
    higher_is_better: bool
    champion: float
    candidate: float
    difference: float
    interval: list[float] | None
    improvement: list[float] | None
    method: str
    confidence: float
    rows: dict[str, int]


class Estimated(BaseModel):
    """Each arm's estimated metrics on its unlabelled records (None where it has no estimator or no such record),
    and the primary metric's difference, candidate minus champion."""

    method: str
    metric: str
    rows: dict[str, int]
    champion: dict[str, float | None] | None
    candidate: dict[str, float | None] | None
    difference: float | None


class DriftGuard(BaseModel):
    """The drift score of the candidate's answers against the champion's, and whether it reached THRESHOLD."""

    score: float | None
    threshold: float | None
    method: str
    fired: bool


class Gap(BaseModel):
    value: float
    attribute: str


class FairnessGuard(BaseModel):
    """Each arm's largest GAP over the sensitive attributes and the candidate's INCREASE over the champion's."""

    gap: str
    threshold: float | None
    increase: float | None
    champion: Gap | None
    candidate: Gap | None
    fired: bool


class Guards(BaseModel):
    prediction_drift: DriftGuard
    fairness: FairnessGuard


class Event(BaseModel):
    """The Prefect event of the outcome: EMITTED when a server was named, ERROR where sending it failed."""

    event: str
    resource: str
    emitted: bool
    error: str | None


class RolloutDecision(BaseModel):
    """One decision: the rollout judged (VERSION the candidate beside CHAMPION, in MODE since STARTED), the
    evidence, the OUTCOME with its REASONS (one sentence each), whether an alias MOVED, and EVIDENCE, this
    record's path relative to the registry folder."""

    time: str
    version: str
    champion: str
    mode: Literal["shadow", "canary"]
    canary_share: float | None
    started: str
    window: Window
    hours: float
    outcome: Outcome
    reasons: list[str]
    moved: bool
    metric: str
    records: Records
    realised: Realised | None
    estimated: Estimated
    guards: Guards
    policy: dict[str, Any]  # registry.rollout.decide as it was set
    evidence: str
    event: Event

