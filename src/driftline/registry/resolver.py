"""The one model resolver: a registered version or alias (or the package stage's exact tag) to its model in
the BentoML store, imported from the registry's export when the store lacks it.

predict, serve, explain, monitor and release all go through here, and the service asks it which version is
champion (champion_version).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import bentoml

from driftline.config import Params
from driftline.core.predictor import Predictor
from driftline.errors import ModelNotFound
from driftline.registry.bento import build_bento
from driftline.registry.store import CHAMPION, Registry


@dataclass(frozen=True)
class ResolvedModel:
    """A model in the local BentoML store: its registry entry (None for the package stage's model) and folder,
    which holds what Predictor.load needs and the monitoring reference (reference.json, background.json)."""

    entry: dict | None
    path: Path

    def predictor(self) -> Predictor:
        return Predictor.load(self.path)


def stored_model(model_tag: str, export: Path) -> bentoml.Model:
    """The model from the local BentoML store, imported from its registry export when the store lacks it."""
    try:
        return bentoml.models.get(model_tag)
    except bentoml.exceptions.NotFound:
        if not export.is_file():
            raise ModelNotFound(
                f"model {model_tag} is neither in the BentoML store nor at {export}: run `dvc pull {export.parent}.dvc`"
            ) from None
        bentoml.models.import_model(str(export.resolve()))
        return bentoml.models.get(model_tag)


def resolve(registry: Registry, name: str = CHAMPION) -> ResolvedModel:
    """NAME (a version or an alias) of REGISTRY."""
    return resolve_entry(registry, registry.get(name))


def resolve_entry(registry: Registry, entry: dict) -> ResolvedModel:
    """The model of a registry ENTRY, also one that the release has not registered yet."""
    return ResolvedModel(entry, Path(stored_model(entry["model_tag"], registry.model_file(entry["version"])).path))


def champion_version(registry_dir: Path) -> str | None:
    """The version that the registry at REGISTRY_DIR names champion (None where none is); a RegistryError where
    registry.json cannot be read."""
    return Registry(registry_dir).aliases.get(CHAMPION)


def resolve_model(params: Params, root: Path, name: str = CHAMPION) -> ResolvedModel:
    """NAME (a version or an alias: champion by default) of the project's registry."""
    return resolve(Registry(root / params.registry.dir), name)


def packaged_model(package_path: Path) -> ResolvedModel:
    """The model that the package stage stored (by exact tag, before any release registered it)."""
    if not package_path.is_file():
        raise ModelNotFound(f"{package_path} not found: run `dvc repro package` (or `make run`) first")
    tag = json.loads(package_path.read_text())["model_tag"]
    try:
        return ResolvedModel(None, Path(bentoml.models.get(tag).path))
    except bentoml.exceptions.NotFound:
        raise ModelNotFound(f"model {tag} is not in the BentoML store: run `dvc repro --force package`") from None


def serving_bento(params: Params, root: Path, name: str = CHAMPION, rollout: bool = False) -> tuple[str, dict]:
    """The bento tag and registry entry to serve NAME: its registered bento, else the newest other bento of its
    model in the store, else one built now from the model (a fresh clone after `dvc pull` has none; build_bento
    labels each with its model). With ROLLOUT (a candidate to serve beside it), a bento whose code predates
    rollouts does not do."""
    registry = Registry(root / params.registry.dir)
    entry = resolve(registry, name).entry
    label = entry["model_tag"].replace(":", "-")
    others = sorted((b for b in bentoml.list() if b.info.labels.get("model") == label
                     and str(b.tag) != entry["bento_tag"]), key=lambda b: b.info.creation_time, reverse=True)
    try:
        registered = [bentoml.get(entry["bento_tag"])]
    except bentoml.exceptions.NotFound:
        registered = []
    for bento in registered + others:
        if not rollout or (Path(bento.path) / "src" / "driftline" / "serving" / "arms.py").is_file():
            return str(bento.tag), entry
    return str(build_bento(entry["model_tag"], root, registry.card_files(entry["version"])).tag), entry
