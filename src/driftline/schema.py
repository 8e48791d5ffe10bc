"""The schema of a table: its columns, their types and bounds, the target and the task, the sensitive attributes.

It stands apart from params.yaml's other sections because it travels: the bento ships it with the model, and the
service, the contract and the stages read it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(Strict):
    type: Literal["integer", "float", "category"] = Field(
        description="How the column is read and checked: a number (`integer` or `float`) or a `category`, read as "
                    "text.")
    min: float | None = Field(None, description="Smallest allowed value of a numeric column; null: no bound.")
    max: float | None = Field(None, description="Largest allowed value of a numeric column; null: no bound.")
    max_missing: float = Field(0.0, ge=0, le=1, description="Allowed share of missing cells (`data.na_values`); 0: "
                                                             "one missing cell breaks the contract.")
    categories: list[str] | None = Field(None, description="The allowed values of a category column, as text; "
                                                           "required for categories, refused for numbers.")

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
    bins: list[float] | None = Field(None, min_length=2, description=(
        "Band edges that turn a numeric attribute into groups, strictly increasing; a value falls in [edge, next "
        "edge). null: each value is a group."))

    @field_validator("bins")
    @classmethod
    def _increasing(cls, bins: list[float] | None) -> list[float] | None:
        if bins is not None and any(b <= a for a, b in zip(bins, bins[1:])):
            raise ValueError("bins must be strictly increasing")
        return bins


TaskKind = Literal["binary", "multiclass", "regression"]
InitTask = Literal["binary", "multiclass", "regression", "count"]  # `driftline init --task`: count is a regression


class Schema(Strict):
    task: TaskKind = Field(description=(
        "What the model predicts: `binary` (a category target with two categories), `multiclass` (a category "
        "target with three or more) or `regression` (a numeric target). `driftline init` infers it."))
    target: str = Field(description="The column to predict, declared among the columns like any other.")
    target_kind: Literal["count"] | None = Field(None, description=(
        "`count`: a regression target of non-negative integers (visits, claims, units sold), for which a Poisson "
        "loss with a log link is among the links featurize chooses from (featurize.target_link). null: any "
        "number. `driftline init` writes `count` for integers from 0 up, zeros included, skewed right."))
    positive_label: str | None = Field(None, description=(
        "The target's positive category, as spelt in the data: binary tasks only."))
    columns: dict[str, ColumnSpec] = Field(min_length=2, description=(
        "Every column of the data, the target included, by name: the one schema that the contract, the "
        "transform and the service's request model share. `driftline init` infers it from a CSV."))
    sensitive: dict[str, SensitiveSpec] = Field({}, description=(
        "The attributes audited for fairness (per-group rates and gaps in the audit, the gate and monitoring), "
        "by column name."))

    @field_validator("positive_label")
    @classmethod
    def _stripped(cls, label: str | None) -> str | None:
        return None if label is None else label.strip()  # as the target's cells and categories are read

    @model_validator(mode="after")
    def _consistent(self) -> Schema:
        target = self.columns.get(self.target)
        if target is None:
            raise ValueError(f"target '{self.target}' is not among the columns")
        self._check_task(target)
        for name, spec in self.sensitive.items():
            if name not in self.columns:
                raise ValueError(f"sensitive attribute '{name}' is not among the columns")
            if name == self.target:
                raise ValueError(f"sensitive attribute '{name}' is the target")
            if spec.bins and not self.columns[name].numeric:
                raise ValueError(f"sensitive attribute '{name}' has bins but is not numeric")
        return self

    def _check_task(self, target: ColumnSpec) -> None:
        if self.target_kind == "count" and (self.task != "regression" or target.type != "integer"
                                            or target.min is None or target.min < 0):
            raise ValueError(f"target_kind count needs a regression target of type integer with a min of 0 or "
                             f"more; '{self.target}' is {target.type} (min {target.min}), task {self.task}")
        if self.task == "regression":
            if not target.numeric:
                raise ValueError(f"a regression target must be numeric; '{self.target}' is a category (set task: "
                                 "binary or multiclass)")
            if self.positive_label is not None:
                raise ValueError("positive_label is for binary tasks only")
            return
        if target.numeric:
            raise ValueError(f"a {self.task} target must be a category column; '{self.target}' is "
                             f"{target.type} (set task: regression, or declare it a category)")
        if self.task == "binary":
            if len(target.categories) != 2:
                raise ValueError(f"a binary target has exactly two categories, not {target.categories} (set task: "
                                 "multiclass)")
            if self.positive_label not in target.categories:
                raise ValueError(f"positive_label '{self.positive_label}' is not a category of '{self.target}'")
        else:
            if len(target.categories) < 3:
                raise ValueError(f"a multiclass target has three or more categories, not {target.categories} "
                                 "(set task: binary)")
            if self.positive_label is not None:
                raise ValueError("positive_label is for binary tasks only")

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
    def classes(self) -> list[str]:
        """The target's categories in declared order (a class's code is its position); empty for regression."""
        return list(self.columns[self.target].categories or [])

    @property
    def negative_label(self) -> str:
        (other,) = (c for c in self.classes if c != self.positive_label)
        return other

    def same_target(self, other: Schema) -> bool:
        """Whether a model trained on OTHER answers what this schema asks: the same task, target and classes."""
        return (self.task, self.target, self.classes, self.positive_label) == (
            other.task, other.target, other.classes, other.positive_label)

    def same_records(self, other: Schema) -> bool:
        """Whether a model trained on OTHER answers the same question of the same records (the same features):
        one that can serve beside this schema's model, in a rollout."""
        return self.same_target(other) and self.features == other.features
