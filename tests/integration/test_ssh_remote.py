"""A real DVC remote: the trained project pushed over SSH (a throwaway `sshd` on loopback, dvc-ssh) from one
git clone, pulled into another, and the champion pulled from the registry's export answers as in the first."""

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from driftline.core.processes import free_port, process_group
from tests.helpers.project import STAGES, cli, dvc, git

SSHD, KEYGEN = Path("/usr/sbin/sshd"), shutil.which("ssh-keygen")
pytestmark = [
    pytest.mark.skipif(not (SSHD.is_file() and KEYGEN), reason="no sshd or ssh-keygen (apt install openssh-server)"),
    pytest.mark.slow,  # two clones that push and pull every stage's outputs, a dozen DVC processes: ~40 s
]


@dataclass(frozen=True)
class SSHServer:
    """A running throwaway sshd: where it listens, who may log in, and the files a client needs."""

    port: int
    user: str
    keyfile: Path  # the client's private key, the only way in
    storage: Path  # an empty folder on the server for the DVC remote

    @property
    def url(self) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{self.storage}"


def keygen(path: Path) -> None:
    subprocess.run([KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True, capture_output=True)


def wait_listening(port: int, server: subprocess.Popen, budget_s: float) -> bool:
    started = time.perf_counter()
    while time.perf_counter() - started < budget_s and server.poll() is None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def sshd() -> Iterator[SSHServer]:
    """`sshd -D` on a free loopback port with its own host key and config: key-only login for the current user
    with a generated client key, SFTP in-process, nothing read from /etc/ssh."""
    folder = Path(tempfile.mkdtemp(prefix="driftline-sshd-"))
    keygen(folder / "host_key")
    keygen(folder / "client_key")
    shutil.copy(folder / "client_key.pub", folder / "authorized_keys")
    port, user = free_port(), getpass.getuser()
    (folder / "sshd_config").write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {folder / 'host_key'}",
        f"PidFile {folder / 'sshd.pid'}", f"AuthorizedKeysFile {folder / 'authorized_keys'}", f"AllowUsers {user}",
        "PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password", "UsePAM no",
        "StrictModes no",  # the temporary folder's modes are not a user's home
        "Subsystem sftp internal-sftp",  # dvc-ssh speaks SFTP; no sftp-server binary needed
    ]) + "\n")
    if os.geteuid() == 0:  # as root sshd separates privileges into this folder, which only its init script makes
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    checked = subprocess.run([SSHD, "-t", "-f", folder / "sshd_config"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    storage = folder / "storage"
    storage.mkdir()
    log = folder / "sshd.log"
    with process_group([str(SSHD), "-D", "-f", str(folder / "sshd_config"), "-E", str(log)]) as server:
        if not wait_listening(port, server, 30):
            pytest.fail(f"sshd did not listen on {port} in 30 s:\n{log.read_text() if log.exists() else ''}")
        yield SSHServer(port, user, folder / "client_key", storage)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def empty_home(tmp_path, monkeypatch) -> Path:
    """An empty HOME: no ~/.ssh/config, agent or default key of the real user takes part, only the keyfile."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return home


def as_git_repo(trained: Path, root: Path, sshd: SSHServer) -> None:
    """A copy of the trained project as a git repo whose default DVC remote is the SSH server: the stages it ran
    in-process committed to dvc.lock, DVC's outputs git-ignored, the remote's URL committed, the key local."""
    # not the fixture's local remote, nor DVC's locks and state
    shutil.copytree(trained, root, ignore=lambda folder, names: {"remote"} if Path(folder) == trained else
                    {"tmp"} if Path(folder) == trained / ".dvc" else set())
    git(root, "init", "-q")
    dvc(root, "config", "--unset", "core.no_scm")
    dvc(root, "remote", "remove", "storage")  # the fixture's local folder: only the SSH remote is left
    dvc(root, "remote", "add", "-d", "ssh", sshd.url)
    dvc(root, "remote", "modify", "--local", "ssh", "keyfile", str(sshd.keyfile))
    # with git on, saving an output also git-ignores it: data, registry/models and every stage's outs
    dvc(root, "commit", "-f", "-q", "data.dvc", "registry/models.dvc", *STAGES)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the trained project, its remote over SSH")


def predict(root: Path, rows: Path, out: Path) -> pd.DataFrame:
    cli(root, "predict", str(rows), "-o", str(out))
    return pd.read_csv(out)


def test_push_from_one_clone_pull_and_predict_in_another(trained, held_out, sshd, empty_home, tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    as_git_repo(trained, first, sshd)
    assert not {"data/adult.csv", "registry/models"} & set(git(first, "ls-files").split()), "DVC's files in git"
    dvc(first, "push")
    assert list(sshd.storage.glob("files/md5/*/*")), "nothing arrived on the server"

    git(tmp_path, "clone", "-q", str(first), str(second))
    assert not [p for p in ("data", "artifacts/train", "registry/models") if (second / p).exists()]
    assert "keyfile" not in (second / ".dvc/config").read_text()  # credentials stay out of git
    dvc(second, "remote", "modify", "--local", "ssh", "keyfile", str(sshd.keyfile))

    dvc(second, "pull")
    assert dvc(second, "status", "--json").stdout.strip() == "{}"
    assert list((second / "registry/models").glob("*.bentomodel"))

    rows = tmp_path / "rows.csv"
    held_out.drop(columns=["income"]).head(25).to_csv(rows, index=False)
    expected = predict(first, rows, tmp_path / "first.csv")
    # an empty BentoML store: the champion can only come from the export that `dvc pull` brought
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "bentoml"))
    answers = predict(second, rows, tmp_path / "second.csv")
    assert list((tmp_path / "bentoml/models").iterdir()), "the model was not imported from the registry's export"
    pd.testing.assert_frame_equal(answers, expected)
