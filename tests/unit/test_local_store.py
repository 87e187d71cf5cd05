"""A local store lists the keys under a prefix by walking only the prefix's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_core.storage import LocalStore, StorageError

pytestmark = pytest.mark.unit

KEYS = [
    "a/1.0.0/manifest.json",
    "a/1.0.0/model.onnx",
    "a/1.1.0/manifest.json",
    "ab/1.0.0/manifest.json",
    "b/2.0.0/nested/deep.json",
    "top.json",
]


def test_listing_a_prefix_gives_what_filtering_the_whole_store_gives(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    for key in KEYS:
        store.write_bytes(key, b"x")
    (tmp_path / "a" / "1.0.0" / ".model.onnx.tmp-1").write_bytes(b"partial")
    prefixes = ["", "a", "a/", "a/1", "a/1.0.0/", "ab/", "b/2.0.0/nested/", "c/", "top", "/a/"]
    for prefix in [*prefixes, "../", "a/../a/", "/"]:
        assert store.list(prefix) == sorted(k for k in KEYS if k.startswith(prefix)), prefix


def test_listing_a_models_versions_walks_only_that_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(tmp_path)
    for key in KEYS:
        store.write_bytes(key, b"x")
    walked: list[Path] = []
    rglob = Path.rglob

    def recording(self: Path, pattern: str) -> object:
        walked.append(self)
        return rglob(self, pattern)

    monkeypatch.setattr(Path, "rglob", recording)
    assert store.list("a/") == [k for k in KEYS if k.startswith("a/")]
    assert walked == [tmp_path / "a"]


def test_a_key_that_leads_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = LocalStore(root)
    store.write_bytes("a/1.0.0/manifest.json", b"inside")
    (tmp_path / "secret.json").write_bytes(b"outside")
    (root / "a" / "link").symlink_to(tmp_path)
    (root / "a" / "inner").symlink_to(root / "a" / "1.0.0")
    for key in ["../secret.json", "a/../../secret.json", "a/link/secret.json", "/etc/hostname"]:
        with pytest.raises(StorageError, match="escapes the store root"):
            store.read_bytes(key)
    assert store.read_bytes("a/inner/manifest.json") == b"inside"  # a link that stays inside
    assert store.read_bytes("a/./1.0.0/../1.0.0/manifest.json") == b"inside"
    assert LocalStore(root / "a" / "inner").read_bytes("manifest.json") == b"inside"
