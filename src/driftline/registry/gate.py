"""The promotion gate: floors, and changes against the baseline and the champion, with a direction (TFX-style).

Every check is listed in the blessing with its value, its threshold and whether it passed; the
candidate is blessed only when all pass. The first model faces the floors and the baseline only.
"""

from __future__ import annotations

from driftline.config import ChangeThreshold, GateParams

PARITY, ODDS, BASE_RATE = "demographic_parity_difference", "equalized_odds_difference", "base_rate_difference"


def check(name: str, kind: str, value: float | None, threshold: str, passed: bool, **extra) -> dict:
    return {"name": name, "kind": kind, "value": value, "threshold": threshold, "passed": bool(passed)} | extra


def floors(metrics: dict, gaps: dict, params: GateParams) -> list[dict]:
    """Minimum AUC, maximum calibration error, and per sensitive attribute the two fairness bounds."""
    checks = [
        check("roc_auc", "floor", metrics["roc_auc"], f">= {params.min_roc_auc}",
              metrics["roc_auc"] >= params.min_roc_auc),
        check("calibration_error", "floor", metrics["calibration_error"], f"<= {params.max_calibration_error}",
              metrics["calibration_error"] <= params.max_calibration_error),
    ]
    for attribute in sorted(k[: -len(PARITY) - 1] for k in gaps if k.endswith(PARITY)):
        parity, base = gaps[f"{attribute}_{PARITY}"], gaps[f"{attribute}_{BASE_RATE}"]
        bound = round(base + params.max_parity_amplification, 6)
        checks.append(check(f"{attribute} {PARITY}", "fairness", parity,
                            f"<= {bound} (labels' own gap {base:.4f} + {params.max_parity_amplification})",
                            parity <= bound))
        odds = gaps[f"{attribute}_{ODDS}"]
        checks.append(check(f"{attribute} {ODDS}", "fairness", odds, f"<= {params.max_equalized_odds_difference}",
                            odds <= params.max_equalized_odds_difference))
    return checks


def change(candidate: dict, reference: dict, bound: ChangeThreshold, kind: str) -> dict:
    """One change check of a metric against a reference model's value of it."""
    value, base = candidate[bound.metric], reference[bound.metric]
    sign = 1 if bound.higher_is_better else -1
    passed, terms = True, []
    if bound.absolute is not None:
        passed &= sign * (value - base) >= sign * bound.absolute
        terms.append(f"candidate - {kind} {'>=' if sign > 0 else '<='} {bound.absolute}")
    if bound.relative is not None:
        passed &= sign * (value / base if base else float("inf")) >= sign * bound.relative
        terms.append(f"candidate / {kind} {'>=' if sign > 0 else '<='} {bound.relative}")
    return check(f"{bound.metric} vs {kind}", kind, value, " and ".join(terms), passed, reference=base,
                 change=round(value - base, 6))


def blessing(candidate: dict, baseline: dict, champion: dict | None, gaps: dict, params: GateParams) -> dict:
    """All checks and the verdict. CHAMPION is the champion's metrics on this run's test split, or None."""
    checks = floors(candidate, gaps, params)
    checks += [change(candidate, baseline, b, "baseline") for b in params.baseline]
    if champion is not None:
        checks += [change(candidate, champion, b, "champion") for b in params.champion]
    return {"blessed": all(c["passed"] for c in checks), "checks": checks}
