"""Typed, strict view of params.yaml: a misspelt key or an out-of-range value fails at load time."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from driftline.errors import ConfigError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(Strict):
    type: Literal["integer", "float", "category"]
    min: float | None = None
    max: float | None = None
    max_missing: float = Field(0.0, ge=0, le=1)
    categories: list[str] | None = None

    @field_validator("categories")
    @classmethod
    def _canonical(cls, categories: list[str] | None) -> list[str] | None:
        """Declared categories by the rule that cells are read with (core.data.category_text: text stripped), so
        that '<200 DM ' copied from a raw file matches its cells; two declared values that become one are refused."""
        if categories is None:
            return None
        seen: dict[str, str] = {}
        for value in categories:
            text = value.strip()
            if text in seen:
                raise ValueError(f"categories {seen[text]!r} and {value!r} are one value once stripped, as cells are "
                                 "read: declare it once")
            seen[text] = value
        return list(seen)

    @model_validator(mode="after")
    def _consistent(self) -> ColumnSpec:
        if self.type == "category" and not self.categories:
            raise ValueError("a category column needs a non-empty 'categories' list")
        if self.type != "category" and self.categories is not None:
            raise ValueError("'categories' is only for category columns")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    @property
    def numeric(self) -> bool:
        return self.type != "category"


class SensitiveSpec(Strict):
    bins: list[float] | None = Field(None, min_length=2)

    @field_validator("bins")
    @classmethod
    def _increasing(cls, bins: list[float] | None) -> list[float] | None:
        if bins is not None and any(b <= a for a, b in zip(bins, bins[1:])):
            raise ValueError("bins must be strictly increasing")
        return bins


class Schema(Strict):
    target: str
    positive_label: str
    columns: dict[str, ColumnSpec] = Field(min_length=2)
    sensitive: dict[str, SensitiveSpec] = {}

    @field_validator("positive_label")
    @classmethod
    def _stripped(cls, label: str) -> str:
        return label.strip()  # as the target's cells and categories are read

    @model_validator(mode="after")
    def _consistent(self) -> Schema:
        target = self.columns.get(self.target)
        if target is None:
            raise ValueError(f"target '{self.target}' is not among the columns")
        if target.type != "category" or self.positive_label not in (target.categories or []):
            raise ValueError(f"positive_label '{self.positive_label}' is not a category of '{self.target}'")
        if len(target.categories) != 2:
            raise ValueError(f"target '{self.target}' must have exactly two categories, not {target.categories}")
        for name, spec in self.sensitive.items():
            if name not in self.columns:
                raise ValueError(f"sensitive attribute '{name}' is not among the columns")
            if spec.bins and not self.columns[name].numeric:
                raise ValueError(f"sensitive attribute '{name}' has bins but is not numeric")
        return self

    @property
    def features(self) -> list[str]:
        return [c for c in self.columns if c != self.target]

    @property
    def numeric_features(self) -> list[str]:
        return [c for c in self.features if self.columns[c].numeric]

    @property
    def categorical_features(self) -> list[str]:
        return [c for c in self.features if not self.columns[c].numeric]

    @property
    def negative_label(self) -> str:
        (other,) = (c for c in self.columns[self.target].categories if c != self.positive_label)
        return other


class DataParams(Strict):
    dir: Path
    na_values: list[str] = ["?", ""]


class ValidateParams(Strict):
    min_rows: int = Field(1, ge=1)
    max_duplicate_share: float = Field(ge=0, le=1)


class IngestParams(Strict):
    quarantine_dir: Path
    push: bool


class FeaturizeParams(Strict):
    seed: int
    val_size: float = Field(gt=0, lt=0.5)
    test_size: float = Field(gt=0, lt=0.5)
    max_holdout_rows: int | None = Field(None, ge=1)  # validation and test each stop growing here
    n_bins: int = Field(ge=0, le=256)  # 0: no piecewise-linear encoding
    min_category_count: int = Field(ge=1)


class EmbeddingParams(Strict):
    """rtdl_num_embeddings.PeriodicEmbeddings of each numeric column (the PLR of MLP-PLR)."""

    d_embedding: int = Field(ge=1, le=512)
    n_frequencies: int = Field(ge=1, le=512)
    frequency_init_scale: float = Field(gt=0, le=1000)
    lite: bool  # true: one output layer shared by every column (and member)


class TrainParams(Strict):
    seed: int
    model: Literal["mlp_plr", "mlp"]
    members: int = Field(ge=1, le=64)
    blocks: int = Field(ge=1, le=16)
    width: int = Field(ge=1, le=4096)
    dropout: float = Field(ge=0, lt=1)
    embedding: EmbeddingParams
    learning_rate: float = Field(gt=0, le=1)
    weight_decay: float = Field(ge=0)
    warmup_epochs: int = Field(ge=0)
    gradient_clip: float = Field(gt=0)
    batch_size: int = Field(ge=1)
    max_epochs: int = Field(ge=1)
    patience: int = Field(ge=1)
    class_weight: Literal["balanced", "none"]
    accelerator: Literal["auto", "cpu", "gpu"]
    precision: Literal["auto", "32-true", "bf16-mixed", "16-mixed"]
    max_rows: int | None = Field(ge=1)  # training rows seen over the run; null: every row, every epoch
    val_rows: int | None = Field(ge=1)  # validation rows that early stopping scores; null: all
    max_minutes: float | None = Field(gt=0)  # wall-clock limit of the fit; null: none
    # ddp_spawn and ddp_fork are left out: they train in child processes and return only the weights to
    # the one that writes the outputs, not the best score or the history.
    strategy: Literal["auto", "ddp"]
    devices: int = Field(ge=1)  # processes per node (CPU) or GPUs per node
    num_nodes: int = Field(ge=1)

    @model_validator(mode="after")
    def _one_process_unless_ddp(self) -> TrainParams:
        if self.strategy == "auto" and self.devices * self.num_nodes > 1:
            raise ValueError(f"strategy 'auto' trains in one process, not devices {self.devices} x num_nodes "
                             f"{self.num_nodes}: set strategy: ddp")
        return self


class TuneParams(Strict):
    dir: Path  # study.db (the Optuna study, SQLite), best.yaml, importance.png
    seed: int


class BaselineParams(Strict):
    max_rows: int | None = Field(None, ge=1)  # fitted on a seeded sample of this many training rows
    max_iter: int = Field(ge=1)
    learning_rate: float = Field(gt=0, le=1)
    seed: int


class EvaluateParams(Strict):
    threshold_objective: Literal["accuracy", "f1"]
    threshold_tolerance: float = Field(ge=0, lt=0.5)
    calibration_bins: int = Field(ge=2, le=100)
    baseline: BaselineParams


class AuditParams(Strict):
    background_rows: int = Field(ge=1)
    explain_rows: int = Field(ge=1)
    min_group_size: int = Field(ge=1)
    seed: int


class PackageParams(Strict):
    model_name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    max_records: int = Field(ge=1, le=1_000_000)  # records per request; the service answers 413 above it


# Evidently's drift methods by column type; Evidently itself decides, per method, which way a score drifts.
NumericDriftMethod = Literal["wasserstein", "ks", "psi", "kl_div", "jensenshannon", "hellinger", "anderson",
                             "cramer_von_mises", "ed", "es", "mannw", "empirical_mmd", "t_test"]
CategoricalDriftMethod = Literal["jensenshannon", "chisquare", "psi", "kl_div", "hellinger", "fisher_exact",
                                 "g_test", "TVD", "z"]


class PolicyParams(Strict):
    """What raises an alert; null turns a rule off."""

    dataset_drift: bool
    max_auc_drop: float | None = Field(None, ge=0, le=1)
    max_parity_gap: float | None = Field(None, ge=0, le=1)
    min_attribution_ndcg: float | None = Field(None, ge=0, le=1)


class MonitorParams(Strict):
    reports_dir: Path
    reference_rows: int = Field(ge=10)
    num_method: NumericDriftMethod
    cat_method: CategoricalDriftMethod
    threshold: float = Field(gt=0)
    drift_share: float = Field(gt=0, le=1)
    explain_rows: int = Field(ge=10, le=10_000)
    min_labelled_rows: int = Field(ge=1)
    seed: int
    policy: PolicyParams
    webhook: str | None = Field(None, pattern=r"^https?://")


class ServeParams(Strict):
    log_url: str = Field(min_length=1)  # SQLAlchemy URL; DRIFTLINE_LOG_URL wins; relative sqlite: in the project
    log_enabled: bool
    timeout_s: float = Field(gt=0, le=3600)


class ChangeThreshold(Strict):
    """A bound on the change of one metric from a reference model, as TFX's GenericChangeThreshold.

    With higher_is_better, the candidate passes when candidate - reference >= absolute and
    candidate / reference >= relative; otherwise when they are <= absolute and <= relative.
    """

    metric: Literal["roc_auc", "pr_auc", "accuracy", "f1", "log_loss", "calibration_error"]
    higher_is_better: bool
    absolute: float | None = None
    relative: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _some_bound(self) -> ChangeThreshold:
        if self.absolute is None and self.relative is None:
            raise ValueError("a change threshold needs 'absolute', 'relative' or both")
        return self


class InfraParams(Strict):
    rows: int = Field(ge=1, le=10_000)  # test rows sent one request each
    startup_timeout_s: float = Field(gt=0)
    max_p99_ms: float = Field(gt=0)


class GateParams(Strict):
    min_roc_auc: float = Field(ge=0, le=1)
    max_calibration_error: float = Field(ge=0, le=1)
    max_parity_amplification: float = Field(ge=0, le=1)
    max_equalized_odds_difference: float = Field(ge=0, le=1)
    bootstrap_rounds: int = Field(ge=10, le=10_000)
    baseline: list[ChangeThreshold]
    champion: list[ChangeThreshold]
    infra: InfraParams


class RegistryParams(Strict):
    dir: Path
    push: bool


class FlowParams(Strict):
    retries: int = Field(ge=0, le=10)
    retry_delay_seconds: float = Field(ge=0)


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
    data: DataParams
    schema_: Schema = Field(alias="schema")
    validate_: ValidateParams = Field(alias="validate")
    ingest: IngestParams
    featurize: FeaturizeParams
    train: TrainParams
    tune: TuneParams
    evaluate: EvaluateParams
    audit: AuditParams
    package: PackageParams
    gate: GateParams
    registry: RegistryParams
    card: CardParams = Field(CardParams(), description=(
        "What the model card says about the data and the model's use; `driftline init` writes placeholders, "
        "and the release warns while any is unfilled."))
    serve: ServeParams
    monitor: MonitorParams
    flows: FlowParams

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
