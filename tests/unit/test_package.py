"""The package stage: the bento's runtime packages are the versions the project is locked to (what each task's
model carries is in tests/integration/test_package.py)."""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def normalise(name: str) -> str:
    """A package name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def test_bento_packages_match_the_lock():
    lock = {
        normalise(name): version
        for name, version in (line.split("==", 1) for line in (REPO / "requirements.lock").read_text().splitlines()
                              if "==" in line and not line.startswith("#"))
    }
    packages = yaml.safe_load((REPO / "bentofile.yaml").read_text())["python"]["packages"]
    assert packages
    for pin in packages:
        name, version = pin.split("==")
        locked = lock.get(normalise(name))
        assert locked == version, f"bentofile.yaml pins {pin}, requirements.lock has {locked}"
