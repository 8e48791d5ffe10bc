"""Typed, strict view of params.yaml: a misspelt key or an out-of-range value fails at load time."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from driftline.errors import ConfigError
from driftline.schema import Schema, SensitiveSpec, Strict


class DataParams(Strict):
    dir: Path = Field(description="Every *.csv below it (with a header row) is training data, read in name order.")
    na_values: list[str] = Field(["?", ""], description="Cells that mean \"missing\", besides JSON null at "
                                                         "serving time.")


class ValidateParams(Strict):
    min_rows: int = Field(1, ge=1, description="The fewest rows the data may have.")
    max_duplicate_share: float = Field(ge=0, le=1, description="Allowed share of rows that repeat another row "
                                                                "exactly.")


class IngestParams(Strict):
    quarantine_dir: Path = Field(description="Where refused batches go, each with its validation report.")
    push: bool = Field(description="`dvc push` each new data version to the default remote.")


class FeaturizeParams(Strict):
    seed: int = Field(description="Seed of the stratified split.")
    val_size: float = Field(gt=0, lt=0.5, description="Share of the rows in the validation split.")
    test_size: float = Field(gt=0, lt=0.5, description="Share of the rows in the test split.")
    max_holdout_rows: int | None = Field(None, ge=1, description=(
        "Validation and test each stop growing at this many rows, and training takes the rest; null: no cap."))
    n_bins: int = Field(ge=0, le=256, description=(
        "Piecewise-linear encoding bins per numeric column, over its train quantiles, beside its normal score; "
        "0: none."))
    min_category_count: int = Field(ge=1, description="Categories rarer than this in the training split fall "
                                                        "into the unknown slot.")
    target_link: Literal["auto", "identity", "log", "log1p", "poisson"] = Field("auto", description=(
        "A regression target's link, shared by both members. auto: chosen on validation RMSE (a LightGBM probe "
        "per link) among those the target allows: for a count (schema.target_kind), `poisson` (log link, "
        "Poisson loss) and, where skewed above 1, `log1p` (standardised log(1 + target)); for any other target "
        "`identity` (standardised target), and `log` (standardised log) where it is positive and skewed, or "
        "`log1p` where it is non-negative and skewed with zeros. Naming one forces it; featurize refuses one "
        "the target's values do not allow."))


class EmbeddingParams(Strict):
    """rtdl_num_embeddings.PeriodicEmbeddings of each numeric column (the PLR of MLP-PLR)."""

    d_embedding: int = Field(ge=1, le=512, description="Values each number becomes.")
    n_frequencies: int = Field(ge=1, le=512, description="Learned sine and cosine frequencies per number.")
    frequency_init_scale: float = Field(gt=0, le=1000, description=(
        "Sigma of the initial frequencies: the knob that matters most."))
    lite: bool = Field(description=(
        "true: one output layer shared by every column and member; false: one per column and member."))


MAX_STRETCH = 4  # train.min_steps stretches the schedule to this many times max_epochs at most


class TrainParams(Strict):
    seed: int = Field(description="Seed of the weights, the shuffles and dropout (reseeded from (seed, epoch) "
                                  "every epoch).")
    model: Literal["mlp_plr", "mlp"] = Field(description=(
        "mlp_plr: MLPs with periodic embeddings of the numbers; mlp: plain MLPs (the numbers' bins kept)."))
    sharing: Literal["auto", "packed", "mini"] = Field("packed", description=(
        "What the members share (TabM, Gorishniy et al. 2024). packed: nothing, each member is an MLP with its "
        "own embeddings. mini: one MLP and one set of embeddings, each member scaling the MLP's inputs its own "
        "way (TabM-mini): one large matmul per layer rather than one small one per member. auto: packed where "
        "training cross-validates (below cv_below_rows rows), mini elsewhere; on Adult mini trained 2.4x faster "
        "at the same validation AUC, on 1,000 rows packed held up better (docs: the model)."))
    category_embedding: int | None = Field(None, ge=1, le=64, description=(
        "Where members share (sharing mini, or auto above cv_below_rows): each categorical column enters as a "
        "learned embedding of this many values, computed once per row for all members, instead of as one-hot "
        "inputs to every member. null: one-hot."))
    members: int = Field(ge=1, le=64, description="MLPs averaged into one model, run as one batched network.")
    blocks: int = Field(ge=1, le=16, description="Hidden layers of each MLP.")
    width: int = Field(ge=1, le=4096, description="Units per hidden layer.")
    dropout: float = Field(ge=0, lt=1, description="Dropout rate in each hidden block.")
    embedding: EmbeddingParams = Field(description="The periodic embeddings of mlp_plr (every member's own when "
                                                   "sharing is packed).")
    learning_rate: float = Field(gt=0, le=1, description="Peak learning rate of AdamW.")
    weight_decay: float = Field(ge=0, description="AdamW's weight decay; never on embeddings or biases.")
    warmup_epochs: int = Field(ge=0, description="Epochs of linear warmup, then cosine decay to 0 at max_epochs.")
    gradient_clip: float = Field(gt=0, description="Largest gradient norm.")
    batch_size: int = Field(ge=1, description="Rows per optimiser step, over all DDP ranks together.")
    max_epochs: int = Field(ge=1, description=(
        "Epochs of the learning-rate schedule, which ends there, where they take min_steps optimiser steps or "
        "more; fewer rows stretch it (min_steps)."))
    min_steps: int = Field(0, ge=0, description=(
        "Optimiser steps the schedule takes at least: where max_epochs epochs of the training split take fewer "
        "(a smaller table), training runs ceil(min_steps / steps per epoch) epochs instead, up to "
        f"{MAX_STRETCH} x max_epochs, so that the budget follows the data; early stopping on validation still "
        "picks the epoch kept. 0: max_epochs always."))
    patience: int = Field(ge=1, description=(
        "Epochs without a better validation metric (the task's: AUC, log loss or RMSE) before stopping."))
    pilot_scales: list[Annotated[float, Field(gt=0, le=1000)]] = Field([], description=(
        "Other values of embedding.frequency_init_scale tried beside it (mlp_plr): each trains for pilot_epochs "
        "from the same start, and the one with the best validation metric (the configured one on a tie) trains "
        "in full. A value tuned on one table can be far off on another (80 on Adult; 1 on smooth numbers). "
        "[]: no pilot."))
    pilot_epochs: int = Field(3, ge=1, description="Epochs of each pilot run (their own short schedule).")
    cv_below_rows: int | None = Field(None, ge=1, description=(
        "Below this many training rows, early stopping scores cross-validation folds of the training split "
        "rather than the few rows of the validation split: cv_folds models learn at once, each on all folds "
        "but its own, and the model served is their ensemble. null: never."))
    cv_folds: int = Field(5, ge=2, le=20, description="Folds of that cross-validation.")
    class_weight: Literal["balanced", "none"] = Field(description=(
        "balanced: weigh the positive class up (the logit is shifted back, so probabilities stay calibrated)."))
    accelerator: Literal["auto", "cpu", "gpu"] = Field(description="auto: a GPU when PyTorch sees one.")
    precision: Literal["auto", "32-true", "bf16-mixed", "16-mixed"] = Field(description=(
        "auto: bf16-mixed on GPU, 32-true on CPU."))
    max_rows: int | None = Field(ge=1, description=(
        "Training rows seen over the whole run; above it each epoch samples ceil(max_rows / max_epochs) rows "
        "afresh. null: every row, every epoch."))
    val_rows: int | None = Field(ge=1, description=(
        "Validation rows (one seeded sample, drawn once) that early stopping scores; null: all."))
    max_minutes: float | None = Field(gt=0, description=(
        "Stop the fit after this long; a time budget makes the model depend on the machine. null: none."))
    # ddp_spawn and ddp_fork are left out: they train in child processes and return only the weights to
    # the one that writes the outputs, not the best score or the history.
    strategy: Literal["auto", "ddp"] = Field(description=(
        "auto: one process (devices and num_nodes must be 1); ddp: Lightning DDP, devices processes on each of "
        "num_nodes nodes."))
    devices: int = Field(ge=1, description="Processes per node (CPU) or GPUs per node.")
    num_nodes: int = Field(ge=1, description="Machines that train together (DDP).")

    @model_validator(mode="after")
    def _one_process_unless_ddp(self) -> TrainParams:
        if self.strategy == "auto" and self.devices * self.num_nodes > 1:
            raise ValueError(f"strategy 'auto' trains in one process, not devices {self.devices} x num_nodes "
                             f"{self.num_nodes}: set strategy: ddp")
        return self

    @model_validator(mode="after")
    def _category_embeddings_are_shared(self) -> TrainParams:
        if self.category_embedding is not None and self.sharing == "packed":
            raise ValueError("category_embedding is computed once for the members that share it: set sharing: mini "
                             "or auto, or category_embedding: null")
        return self


class BoostParams(Strict):
    """LightGBM, the gradient-boosting member (boost stage). A null knob takes its value from `defaults`."""

    defaults: Literal["auto", "td", "lightgbm"] = Field("auto", description=(
        "Where the null knobs come from. td: the task's meta-learned defaults (Holzmueller et al. 2024, \"Better "
        "by default\", pytabkit's LGBM_TD_CLASS and LGBM_TD_REG); lightgbm: LightGBM's own; auto: both are "
        "fitted, and the one with the lower validation loss is kept (on the blend benchmark's seven data sets "
        "neither was better on all of them)."))
    seed: int = Field(42, description="Seed of the row and column samples.")
    max_rounds: int = Field(1000, ge=1, le=100_000, description=(
        "Most boosting rounds; early stopping keeps the best on validation (or on each fold's held-out rows)."))
    early_stopping_rounds: int = Field(300, ge=1, description=(
        "Rounds without a better validation loss before stopping."))
    learning_rate: float | None = Field(None, gt=0, le=1, description=(
        "Shrinkage of each tree. null: td 0.04 (classification) or 0.05 (regression); lightgbm 0.1."))
    num_leaves: int | None = Field(None, ge=2, le=131_072, description=(
        "Leaves per tree. null: td 50 (classification) or 100 (regression); lightgbm 31."))
    min_data_in_leaf: int | None = Field(None, ge=1, description=(
        "Fewest training rows in a leaf. null: td 40 (classification) or 3 (regression); lightgbm 20."))
    subsample: float | None = Field(None, gt=0, le=1, description=(
        "Share of rows each tree sees (bagging, redrawn every round). null: td 0.75 (classification) or 0.7 "
        "(regression); lightgbm 1 (no bagging)."))
    colsample_bytree: float = Field(1.0, gt=0, le=1, description="Share of columns each tree sees.")
    min_sum_hessian_in_leaf: float | None = Field(None, ge=0, description=(
        "Smallest hessian sum in a leaf. null: td 1e-7; lightgbm 1e-3."))
    max_bin: int = Field(255, ge=2, le=65_535, description="Histogram bins per numeric column.")
    threads: int = Field(0, ge=0, le=1024, description="Training threads; 0: OpenMP's default (every core).")


class TuneParams(Strict):
    dir: Path = Field(description=(
        "Where driftline tune keeps study.db (the Optuna study, SQLite; resumes after a stop), best.yaml and "
        "importance.png."))
    seed: int = Field(description="Seed of the TPE sampler.")


class BaselineParams(Strict):
    max_rows: int | None = Field(None, ge=1, description=(
        "Fitted on a seeded sample of this many training rows; null: all of them."))
    max_iter: int = Field(ge=1, description="Boosting iterations of HistGradientBoosting.")
    learning_rate: float = Field(gt=0, le=1, description="HistGradientBoosting's learning rate.")
    seed: int = Field(description="Seed of the sample and of the model.")


class EvaluateParams(Strict):
    threshold_objective: Literal["accuracy", "f1"] = Field(description=(
        "What the decision threshold maximises on the validation split."))
    threshold_tolerance: float = Field(ge=0, lt=0.5, description=(
        "The threshold is the median of the cuts within this of the best objective, so it does not jump."))
    calibration_bins: int = Field(ge=2, le=100, description="Bins of the calibration error and curve.")
    interval_level: float = Field(0.9, gt=0, lt=1, description=(
        "Regression: the coverage the prediction interval is built for (split conformal, from the validation "
        "residuals)."))
    blend_rounds: int = Field(25, ge=1, le=1000, description=(
        "Rounds of the greedy ensemble selection (Caruana et al. 2004) that weighs the members on validation: "
        "each round adds one member, a weight is its share of the rounds (25: steps of 0.04)."))
    baseline: BaselineParams = Field(description="The HistGradientBoosting baseline the model is compared with.")


class AuditParams(Strict):
    background_rows: int = Field(ge=1, description="Training rows SHAP integrates over (stored with the model).")
    explain_rows: int = Field(ge=1, description="Test rows explained with SHAP.")
    min_group_size: int = Field(ge=1, description=(
        "Fairness gaps cover the groups with at least this many test rows (binary: of each label); smaller groups "
        "are reported, not gated."))
    seed: int = Field(description="Seed of the row samples.")


class PackageParams(Strict):
    model_name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", description=(
        "The BentoML model and bento name; alerts name the resource driftline.model.<model_name>."))
    max_records: int = Field(ge=1, le=1_000_000, description="Records per request; more are answered 413.")


# Evidently's drift methods by column type; Evidently itself decides, per method, which way a score drifts.
NumericDriftMethod = Literal["wasserstein", "ks", "psi", "kl_div", "jensenshannon", "hellinger", "anderson",
                             "cramer_von_mises", "ed", "es", "mannw", "empirical_mmd", "t_test"]
CategoricalDriftMethod = Literal["jensenshannon", "chisquare", "psi", "kl_div", "hellinger", "fisher_exact",
                                 "g_test", "TVD", "z"]


class Segment(SensitiveSpec):
    """One column that splits a batch into segments, as `sex` or `{column: age, bins: [...]}`."""

    column: str = Field(description="The column, a category or (with bins) a number.")

    @model_validator(mode="before")
    @classmethod
    def _named(cls, value):
        return {"column": value} if isinstance(value, str) else value  # `sex` is short for {column: sex}


class PolicyParams(Strict):
    """What raises an alert; null turns a rule off."""

    dataset_drift: bool = Field(description="Alert on Evidently's dataset-drift decision (monitor.drift_share).")
    max_metric_drop: float | None = Field(None, ge=0, description=(
        "Alert when the task's primary metric, realised or (where labels are too few) estimated, is worse than "
        "the model's test figure by more than this, in the metric's units: ROC AUC (binary, estimated by CBPE), "
        "log loss (multiclass, CBPE), RMSE (regression, target units, estimated by DLE)."))
    max_parity_gap: float | None = Field(None, ge=0, description=(
        "Alert when any sensitive attribute's gap between groups in the model's answers is above this: the "
        "demographic-parity difference of the decisions (binary), the largest gap of a class's selection rate "
        "(multiclass), the gap of the mean prediction (regression, target units)."))
    min_attribution_ndcg: float | None = Field(None, ge=0, le=1, description=(
        "Alert when the rank agreement (nDCG) of mean |SHAP| with the audit's falls below this (SageMaker "
        "Clarify's default is 0.9)."))
    segments: bool = Field(False, description=(
        "Apply the dataset_drift, max_metric_drop and max_parity_gap rules to each segment (monitor.segments) "
        "too, with the same thresholds: a segment drifts when its share of drifted columns (after the segments' "
        "false-alarm rule) reaches monitor.drift_share; its metric is compared with the estimate on the same "
        "segment of the reference sample. Each finding names its segment (`sex=Female`)."))


class MonitorParams(Strict):
    reports_dir: Path = Field(description="Where each run writes <date>/<time>-<batch>/report.html and "
                                          "summary.json.")
    workspace: Path = Field(Path("reports/workspace"), description=(
        "The Evidently workspace every monitoring run adds a snapshot to (one project per model) and `driftline ui` "
        "shows; `driftline workspace rebuild` makes it again from the stored summaries."))
    reference_rows: int = Field(ge=10, description="Sample of the training split that batches are compared with.")
    num_method: NumericDriftMethod = Field(description=(
        "Evidently's drift method for numeric columns. Distances stay sane on large samples; p-value tests such "
        "as ks flag almost everything there."))
    cat_method: CategoricalDriftMethod = Field(description="Evidently's drift method for categorical columns.")
    threshold: float = Field(gt=0, description=(
        "A column drifts at a distance at or above it, or for a p-value test at a p-value below it."))
    drift_share: float = Field(gt=0, le=1, description=(
        "The batch drifts when at least this share of its columns drift: the features and the answers (the "
        "probability, the prediction, or a multiclass model's label and class probabilities)."))
    explain_rows: int = Field(ge=10, le=10_000, description=(
        "Rows of a batch or window explained (a sample) for the drift of attributions."))
    min_labelled_rows: int = Field(ge=1, description=(
        "Realised performance and label-based fairness need at least this many labelled rows."))
    seed: int = Field(description="Seed of the samples.")
    segments: list[Segment] = Field([], description=(
        "Columns whose values split a batch into segments, each monitored on its own (drift per column, "
        "prediction drift, performance realised and estimated, fairness of the other sensitive attributes) "
        "against the same segment of the reference sample: a category column's name (`sex`), or "
        "`{column: age, bins: [...]}` for a number; a number without bins takes schema.sensitive's."))
    min_segment_rows: int = Field(100, ge=10, description=(
        "A segment value is monitored with at least this many rows in the batch, and compared with the "
        "reference (drift, reference performance) with at least this many in the reference sample too."))
    segment_fdr: float = Field(0.05, gt=0, lt=1, description=(
        "False-alarm control over every segment x column drift test of a run: Benjamini-Hochberg at this "
        "false discovery rate. Each test's p-value is its method's own (ks, chisquare, ...) or, for a distance "
        "(wasserstein, jensenshannon, psi, ...), that of KS (numbers) or chi-square (categories) on the same "
        "rows; a column drifts in a segment when its adjusted p-value is below this and, for a distance, the "
        "distance also reaches monitor.threshold, so that small segments' noisy distances do not fire."))
    policy: PolicyParams = Field(description=(
        "When a run raises an alert: a record in reports/alerts, the webhook, and a Prefect event that retrains."))
    webhook: str | None = Field(None, pattern=r"^https?://", description=(
        "URL that receives each alert as JSON (POST); null: none."))


class ServeParams(Strict):
    log_url: str = Field(min_length=1, description=(
        "The inference log, a SQLAlchemy URL (a relative sqlite path is in the project); the DRIFTLINE_LOG_URL "
        "environment variable wins."))
    log_enabled: bool = Field(description="Log every scored record (driftline serve --log/--no-log overrides it).")
    timeout_s: float = Field(gt=0, le=3600, description="A request not answered in this long gets 504.")
    log_retention_days: int | None = Field(None, ge=1, description=(
        "Days the inference log keeps a record (its features are personal data in most tables): `driftline log "
        "purge` and the monitoring deployment delete older ones; null: kept forever."))
    dead_letter_path: str = Field("logs/dead-letters.jsonl", min_length=1, description=(
        "Where the inference log puts the rows its database refuses, one JSON line each with its error (a relative "
        "path is in the project; a PostgreSQL log dead-letters to this local file too): `driftline log "
        "dead-letters` shows them and `driftline log replay` writes them again. The DRIFTLINE_DEAD_LETTERS "
        "environment variable wins."))
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description=(
        "A request body larger than this is answered 413 as it arrives, before it is read whole or parsed: at once "
        "when its Content-Length says so, else once that many bytes have come."))
    max_text_chars: int = Field(1000, ge=1, le=1_000_000, description=(
        "A category value longer than this is answered 422 (naming the field), so that the log never stores "
        "what no category is."))


GateMetric = Literal["roc_auc", "pr_auc", "accuracy", "f1", "log_loss", "calibration_error", "macro_f1", "brier",
                     "rmse", "mae", "r2", "mape", "coverage"]  # every task's test metrics (core.metrics)
FairnessGap = Literal["accuracy_gap", "macro_f1_gap", "recall_gap", "mae_gap", "rmse_gap", "mean_prediction_gap"]


class ChangeThreshold(Strict):
    """A bound on the change of one metric from a reference model, as TFX's GenericChangeThreshold, in the
    metric's own direction (core.metrics.HIGHER_IS_BETTER).

    Where higher is better, the candidate passes when candidate - reference >= absolute and
    candidate / reference >= relative; where lower is better, when they are <= absolute and <= relative.
    """

    metric: GateMetric = Field(description=(
        "The test metric compared, one that the task reports: binary roc_auc, pr_auc, accuracy, f1, log_loss, "
        "calibration_error; multiclass accuracy, macro_f1, log_loss, roc_auc, calibration_error, brier; "
        "regression rmse, mae, r2, mape (every target positive), coverage (the model only)."))
    absolute: float | None = Field(None, description="Bound on candidate minus reference.")
    relative: float | None = Field(None, gt=0, description="Bound on candidate over reference.")
    strict: bool = Field(False, description=(
        "The candidate must beat the bounds, not only meet them (> or <, not >= or <=): with absolute 0, a "
        "strict improvement."))

    @model_validator(mode="after")
    def _some_bound(self) -> ChangeThreshold:
        if self.absolute is None and self.relative is None:
            raise ValueError("a change threshold needs 'absolute', 'relative' or both")
        return self


class Floor(Strict):
    """An absolute bound on one of the candidate's test metrics: a min where higher is better, else a max."""

    metric: GateMetric = Field(description="The test metric bounded, one that the task reports.")
    min: float | None = Field(None, description="The lowest value that passes (a metric where higher is better).")
    max: float | None = Field(None, description="The highest value that passes (a metric where lower is better).")

    @model_validator(mode="after")
    def _one_bound(self) -> Floor:
        if (self.min is None) == (self.max is None):
            raise ValueError("a floor needs one of 'min' and 'max'")
        return self


class InfraParams(Strict):
    rows: int = Field(ge=1, le=10_000, description="Test rows sent, one request each.")
    startup_timeout_s: float = Field(gt=0, description="The bento must be ready within this long.")
    max_p99_ms: float = Field(gt=0, description="Largest allowed p99 latency of those requests.")


class GateParams(Strict):
    floors: list[Floor] = Field([], description=(
        "Absolute bounds on the candidate's test metrics, e.g. `{metric: roc_auc, min: 0.88}`; none unless set, "
        "since what is good enough depends on the data."))
    max_parity_amplification: float | None = Field(None, ge=0, le=1, description=(
        "Binary: over the groups the audit gates on, the decisions' demographic-parity gap may exceed the labels' "
        "own base-rate gap by at most this: the model may not amplify the data's disparity. null: not gated."))
    max_equalized_odds_difference: float | None = Field(None, ge=0, le=1, description=(
        "Binary: ceiling on the equalized-odds gap over those groups; null: not gated."))
    max_gaps: dict[FairnessGap, float] = Field({}, description=(
        "Multiclass and regression: ceilings on the audit's gaps (max - min over the gated groups) of every "
        "sensitive attribute: multiclass accuracy_gap, macro_f1_gap, recall_gap; regression mae_gap, rmse_gap, "
        "mean_prediction_gap (in the target's units). A gap not listed is not gated."))
    bootstrap_rounds: int = Field(ge=10, le=10_000, description=(
        "Paired bootstrap rounds of the test split for the confidence intervals of the task's primary metric: "
        "the model card's, and the baseline check's."))
    baseline: list[ChangeThreshold] = Field(description=(
        "Bounds against the gradient-boosting baseline of the same run. An absolute bound on the primary metric "
        "is checked on the paired 95% interval of the difference: refused only where the whole interval lies on "
        "the wrong side (absolute 0: never a model shown worse than its own baseline)."))
    dummy: list[ChangeThreshold] = Field(description=(
        "Bounds against the dummy of the same run (the class prior, or the mean): a model must have learnt "
        "something."))
    champion: list[ChangeThreshold] = Field(description=(
        "Bounds against the champion, re-scored on this run's test split (the first model, or one for another "
        "target, has none to meet)."))
    infra: InfraParams = Field(description="The load-and-query check of the built bento before promotion.")


class DecisionPolicy(Strict):
    """How `driftline rollout decide` turns the arms' evidence from the inference log into promote, keep waiting
    or roll back. The task's primary metric is compared (ROC AUC, log loss, RMSE), in its own direction."""

    min_labelled: int = Field(200, ge=10, description=(
        "Labelled records each arm needs (shadow: the same records in both) before the realised comparison "
        "decides; with fewer, only the deadline or a guard can end the rollout."))
    min_hours: float = Field(24, ge=0, description=(
        "Hours the rollout must have run before it can be promoted: a day's traffic, not an hour's."))
    margin: float = Field(0.0, ge=0, description=(
        "How much better the candidate's primary metric must be (candidate minus champion, in the metric's "
        "direction and units) at the interval's bound to promote; 0: not worse at the bound."))
    confidence: float = Field(0.95, gt=0.5, lt=1, description=(
        "Two-sided level of the interval of the metric difference: DeLong for ROC AUC, else a paired "
        "bootstrap (shadow) or an unpaired one (canary)."))
    bootstrap_rounds: int = Field(1000, ge=100, le=20_000, description="Resamples of the bootstrap interval.")
    max_prediction_drift: float | None = Field(0.2, gt=0, description=(
        "Guard: roll back when the drift score (monitor.num_method's distance) between the arms' answers on "
        "the window reaches this; null: no guard."))
    max_fairness_increase: float | None = Field(0.05, ge=0, description=(
        "Guard: roll back when the candidate's largest fairness gap over the sensitive attributes (the "
        "monitoring's parity gap of the answers) is above the champion's by more than this; null: no guard."))
    deadline_hours: float = Field(168, gt=0, description=(
        "When the evidence is still inconclusive this long after the start, on_deadline decides."))
    on_deadline: Literal["rollback", "promote", "keep"] = Field("rollback", description=(
        "What an inconclusive rollout does at the deadline: roll back (keep the champion), promote the "
        "candidate (it was not shown worse), or keep waiting."))


class RolloutParams(Strict):
    mode: Literal["direct", "shadow", "canary"] = Field("direct", description=(
        "What a blessed release does: `direct` makes it champion at once; `shadow` makes it candidate, scored "
        "beside the champion on every request and logged, never answered; `canary` makes it candidate and "
        "answers canary_share of the records with it (chosen by a stable hash of the record id)."))
    canary_share: float = Field(0.1, gt=0, lt=1, description="The share of records the candidate answers in canary.")
    decide: DecisionPolicy = Field(DecisionPolicy(), description=(
        "When a rollout's candidate is promoted or rolled back (`driftline rollout decide`)."))


class RegistryParams(Strict):
    dir: Path = Field(description=(
        "registry.json, history.jsonl, cards/ and blessings/ (in git); models/ (in DVC)."))
    push: bool = Field(description="`dvc push` each exported model to the default remote.")
    rollout: RolloutParams = Field(RolloutParams(), description=(
        "How a blessed version reaches traffic: at once, or as a candidate in shadow or canary first."))


class FlowParams(Strict):
    retries: int = Field(ge=0, le=10, description="Retries of a failed stage task in the Prefect flows.")
    retry_delay_seconds: float = Field(ge=0, description="Wait before each retry.")


CARD_PLACEHOLDER = "<fill in"  # how `driftline init` marks card text for the user to write


class CardParams(Strict):
    intended_use: str = Field(f"{CARD_PLACEHOLDER}: what the model is for and who may use it>", description=(
        "The model card's intended use: the task, the users and the setting the model was built for."))
    out_of_scope: str = Field(f"{CARD_PLACEHOLDER}: uses the model must not be put to>", description=(
        "The model card's out-of-scope uses: decisions and populations the model must not be used for."))
    data_origin: str = Field(f"{CARD_PLACEHOLDER}: where the data comes from, when and how it was collected>",
                             description="Where the training data comes from: its source, period and collection.")
    limitations: list[str] = Field([f"{CARD_PLACEHOLDER}: what is known to limit the model's scores>"], description=(
        "Known limitations of the data and the model, one per item; the card adds the audit's own."))

    def unfilled(self) -> list[str]:
        """The keys whose text is still `driftline init`'s placeholder."""
        values = self.model_dump()
        return [f"card.{key}" for key, value in values.items()
                if any(str(v).startswith(CARD_PLACEHOLDER) for v in (value if isinstance(value, list) else [value]))]


class Params(Strict):
    data: DataParams = Field(description="Where the training data is and how its cells are read.")
    schema_: Schema = Field(alias="schema", description="The columns, the target and the sensitive attributes.")
    validate_: ValidateParams = Field(alias="validate", description="The contract's rules beyond the schema.")
    ingest: IngestParams = Field(description="driftline ingest: what happens to a new batch.")
    featurize: FeaturizeParams = Field(description="The split and the feature transform (featurize stage).")
    train: TrainParams = Field(description="The model, its optimiser and its training budget (train stage).")
    boost: BoostParams = Field(BoostParams(), description=(
        "The gradient-boosting member trained beside the network (boost stage), blended with it on validation."))
    tune: TuneParams = Field(description="driftline tune: Optuna TPE over train's knobs, on the validation split.")
    evaluate: EvaluateParams = Field(description="Test metrics, the decision threshold and the baseline.")
    audit: AuditParams = Field(description="SHAP attributions and per-group fairness (audit stage).")
    package: PackageParams = Field(description="The BentoML model and bento, and the service's request limit.")
    gate: GateParams = Field(description="What a packaged model must pass to become champion (driftline release).")
    registry: RegistryParams = Field(description="The model registry.")
    card: CardParams = Field(CardParams(), description=(
        "What the model card says about the data and the model's use; `driftline init` writes placeholders, "
        "and the release warns while any is unfilled."))
    serve: ServeParams = Field(description="driftline serve and its inference log.")
    monitor: MonitorParams = Field(description="Drift, performance and the alert policy of driftline monitor.")
    flows: FlowParams = Field(description="The Prefect flows' task retries.")

    @model_validator(mode="after")
    def _segments_are_columns(self) -> Params:
        seen = set()
        for segment in self.monitor.segments:
            name, spec = segment.column, self.schema_.columns.get(segment.column)
            if spec is None or name == self.schema_.target:
                raise ValueError(f"monitor.segments: '{name}' is not a feature column")
            if name in seen:
                raise ValueError(f"monitor.segments: '{name}' is listed twice")
            seen.add(name)
            if segment.bins and not spec.numeric:
                raise ValueError(f"monitor.segments: '{name}' has bins but is not numeric")
            sensitive = self.schema_.sensitive.get(name)
            if spec.numeric and not (segment.bins or (sensitive and sensitive.bins)):
                raise ValueError(f"monitor.segments: the number '{name}' needs bins (its own or schema.sensitive's)")
        return self

    @property
    def schema(self) -> Schema:  # noqa: D102 - 'schema' and 'validate' clash with pydantic names
        return self.schema_

    @property
    def validation(self) -> ValidateParams:  # noqa: D102
        return self.validate_


def with_values(params: Params, values: dict) -> Params:
    """PARAMS with dotted keys set (as `dvc exp run -S train.seed=1` sets them), checked as params.yaml is."""
    raw = params.model_dump(by_alias=True, mode="json")
    for key, value in values.items():
        *parents, leaf = key.split(".")
        section = raw
        for name in parents:
            section = section[name]
        section[leaf] = value
    return Params.model_validate(raw)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and check params.yaml, raising ConfigError that names each bad key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        problems = "\n".join(
            f"  {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path} is invalid:\n{problems}") from None
