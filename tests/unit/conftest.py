from pathlib import Path

import pytest

from driftline.config import load_params


@pytest.fixture(scope="session")
def params():
    return load_params(Path(__file__).resolve().parents[2] / "params.yaml")
