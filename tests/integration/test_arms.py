"""A canary's arms: a record's arm is the same in every process (the hash is not Python's salted one)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from driftline.serving.arms import canary_arm


def test_an_ids_arm_is_the_same_in_another_process():
    code = ("import json, sys; from driftline.serving.arms import canary_arm; "
            "print(json.dumps([canary_arm(i, 0.3) for i in json.loads(sys.stdin.read())]))")
    ids = [f"record-{n}" for n in range(2000)] + ["", "é-ünïcode", "x" * 200]
    done = subprocess.run([sys.executable, "-c", code], input=json.dumps(ids), capture_output=True, text=True,
                          check=True, env=os.environ | {"PYTHONHASHSEED": "12345"})
    assert json.loads(done.stdout) == [canary_arm(i, 0.3) for i in ids]
