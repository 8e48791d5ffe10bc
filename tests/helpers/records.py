"""Records as driftline writes them to disk, for the tests of their readers."""

# a rollout decision (registry/decisions/<version>/<stamp>.json), the form since the first rollout
DECISION = {
    "time": "2026-12-01T10:00:00+00:00", "version": "v2", "champion": "v1", "mode": "shadow", "canary_share": None,
    "started": "2026-11-30T09:00:00+00:00",
    "window": {"start": "2026-11-30T09:00:00+00:00", "end": "2026-12-01T10:00:00+00:00"}, "hours": 25.0,
    "outcome": "promote", "reasons": ["The candidate's roc_auc is better."], "moved": True, "metric": "roc_auc",
    "records": {"champion": 600, "candidate": 600, "paired": 600, "labelled": 600},
    "realised": {"metric": "roc_auc", "higher_is_better": True, "champion": 0.81, "candidate": 0.86,
                 "difference": 0.05, "interval": [0.02, 0.08], "improvement": [0.02, 0.08],
                 "method": "DeLong, paired", "confidence": 0.95, "rows": {"champion": 600, "candidate": 600}},
    "estimated": {"method": "CBPE", "metric": "roc_auc", "rows": {"champion": 0, "candidate": 0},
                  "champion": None, "candidate": {"roc_auc": 0.85, "accuracy": None}, "difference": None},
    "guards": {"prediction_drift": {"score": None, "threshold": None, "method": "wasserstein", "fired": False},
               "fairness": {"gap": "demographic_parity_difference", "threshold": 0.1, "increase": 0.01,
                            "champion": {"value": 0.1, "attribute": "group"},
                            "candidate": {"value": 0.11, "attribute": "group"}, "fired": False}},
    "policy": {"min_labelled": 200, "margin": 0.0}, "evidence": "decisions/v2/2026-12-01T100000.000000Z.json",
    "event": {"event": "driftline.rollout.promote", "resource": "driftline.model.adult", "emitted": False,
              "error": None},
}
