"""The bento: bentofile.yaml's runtime spec built around one model version, with src/ as the build context."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import bentoml
import yaml


def build_bento(model_tag: str, root: Path, extra_files: dict[str, Path] | None = None) -> bentoml.Bento:
    """Build the bento from bentofile.yaml with src/ as context, pinned to this model version.

    EXTRA_FILES (name in the bento: source path), such as the model card, are shipped beside the code.
    """
    spec = yaml.safe_load((root / "bentofile.yaml").read_text())
    spec["envs"] = [{"name": "DRIFTLINE_MODEL_TAG", "value": model_tag}]
    spec["labels"] = {"model": model_tag.replace(":", "-")}
    previous = os.environ.get("DRIFTLINE_MODEL_TAG")
    os.environ["DRIFTLINE_MODEL_TAG"] = model_tag  # the build imports the service, which resolves the tag
    try:
        with tempfile.TemporaryDirectory() as tmp:
            context = Path(tmp, "context")
            shutil.copytree(root / "src", context, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
            for name, source in (extra_files or {}).items():
                shutil.copy(source, context / name)
                spec["include"].append(name)
            bentofile = Path(tmp, "bentofile.yaml")
            bentofile.write_text(yaml.safe_dump(spec))
            return bentoml.bentos.build_bentofile(str(bentofile), build_ctx=str(context))
    finally:
        if previous is None:
            del os.environ["DRIFTLINE_MODEL_TAG"]
        else:
            os.environ["DRIFTLINE_MODEL_TAG"] = previous
