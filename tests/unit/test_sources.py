"""Where a batch comes from: gzip known by its bytes, symlinks out of the project, copies that stay private."""

import gzip
import stat

import pytest

from driftline.core.sources import folder_mode, local_file, permission_bits, quarantine, unpacked
from driftline.errors import DataError, IngestError


def test_gzip_is_known_by_its_first_bytes_and_broken_gzip_is_named():
    text = b"age,income\n39,<=50K\n"
    assert unpacked(text, "new.csv") == text
    assert unpacked(gzip.compress(text), "new.csv") == text
    with pytest.raises(DataError, match=r"^new\.csv is not a readable gzip file"):
        unpacked(gzip.compress(text)[:-8], "new.csv")  # truncated


def test_a_symlink_out_of_the_project_is_refused_and_one_inside_is_followed(tmp_path):
    root, outside = tmp_path / "project", tmp_path / "outside.csv"
    root.mkdir()
    outside.write_text("a\n")
    (root / "inside.csv").write_text("a\n")
    (root / "out.csv").symlink_to(outside)
    (root / "in.csv").symlink_to(root / "inside.csv")
    with pytest.raises(IngestError, match="is a symlink to .*outside.csv, outside the project"):
        local_file(str(root / "out.csv"), root)
    assert local_file(str(root / "in.csv"), root) == root / "in.csv"
    assert local_file(str(outside), root) == outside  # a plain file anywhere is the user's to ingest
    assert local_file("memory://batch.csv", root) is None


def test_a_link_keeps_its_targets_mode_and_a_missing_file_has_none(tmp_path):
    target = tmp_path / "private.csv"
    target.write_text("a\n")
    target.chmod(0o600)
    (tmp_path / "link.csv").symlink_to(target)
    assert permission_bits(tmp_path / "link.csv") == 0o600
    assert permission_bits(tmp_path / "gone.csv") is None and permission_bits(None) is None


def test_a_folder_lets_in_only_who_may_read_the_file():
    assert [folder_mode(m) for m in (0o600, 0o640, 0o644, 0o666)] == [0o700, 0o750, 0o755, 0o755]
    assert folder_mode(None) == 0o777


def test_the_quarantined_copy_and_its_folder_stay_as_private_as_the_source(tmp_path):
    folder = quarantine(b"secret", "batch.csv", {"problems": ["x"]}, None, tmp_path / "q" / "one", mode=0o600)
    assert stat.S_IMODE((folder / "batch.csv").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert (folder / "batch.csv").read_bytes() == b"secret"
