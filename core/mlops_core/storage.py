"""Object storage behind one small interface: S3/MinIO (``s3://bucket/prefix``) or a local folder.

S3 settings come from the standard AWS environment: ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (MinIO), and
``AWS_DEFAULT_REGION``. Writes retry with backoff; checksums are only sent when S3 requires
them, which MinIO accepts.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlparse

T = TypeVar("T")


class StorageError(Exception):
    """A read or write failed; the message names the URI."""


class ObjectNotFoundError(StorageError):
    """The object does not exist."""


class ObjectStore(Protocol):
    """Keys are '/'-separated and relative to the store's root URI."""

    @property
    def uri(self) -> str: ...

    def read_bytes(self, key: str) -> bytes: ...
    def write_bytes(self, key: str, data: bytes) -> None: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str = "") -> list[str]: ...
    def delete(self, key: str) -> None: ...


def join_uri(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts if p)])


@dataclass
class LocalStore:
    """A folder on disk. Writes go to a temporary name and are renamed, so they are atomic."""

    root: Path

    @property
    def uri(self) -> str:
        return str(self.root)

    @functools.cached_property
    def _real_root(self) -> str:
        return os.path.realpath(self.root)

    def _path(self, key: str) -> Path:
        """The file of ``key``, its links followed; StorageError when that is outside the root."""
        root = self._real_root
        path = os.path.realpath(os.path.join(root, key))
        if path != root and not path.startswith(os.path.join(root, "")):
            raise StorageError(f"key {key!r} escapes the store root {self.root}")
        return Path(path)

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFoundError(f"{join_uri(self.uri, key)} does not exist") from None

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_bytes(data)
        tmp.replace(path)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> list[str]:
        """The keys that start with ``prefix``, walking only the folder its last ``/`` names
        (a model's versions, not the whole repository: a server looks them up per load)."""
        base = self.root
        folder, _, _ = prefix.rpartition("/")
        if folder.startswith("/") or ".." in folder.split("/"):
            return []  # no key starts with a slash or a parent reference
        start = base / folder if folder else base
        if not start.is_dir():
            return []
        keys = (p.relative_to(base).as_posix() for p in start.rglob("*") if p.is_file())
        return sorted(k for k in keys if k.startswith(prefix) and ".tmp-" not in k)

    def delete(self, key: str) -> None:
        """Remove the file, and the folders it leaves empty (up to the root), like S3 keys."""
        path = self._path(key)
        path.unlink(missing_ok=True)
        root = self.root.resolve()
        for parent in path.parents:
            if parent == root or root not in parent.parents:
                break
            try:
                parent.rmdir()
            except OSError:
                break


def _retry(action: Callable[[], T], what: str, attempts: int = 5) -> T:
    from botocore.exceptions import BotoCoreError, ClientError

    delay = 0.2
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise ObjectNotFoundError(f"{what} does not exist") from None
            if code in (
                "AccessDenied",
                "InvalidAccessKeyId",
                "SignatureDoesNotMatch",
                "NoSuchBucket",
            ):
                raise StorageError(f"{what}: {code}: {exc}") from exc
            if attempt == attempts:
                raise StorageError(f"{what} failed after {attempts} attempts: {exc}") from exc
        except BotoCoreError as exc:
            if attempt == attempts:
                raise StorageError(f"{what} failed after {attempts} attempts: {exc}") from exc
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


@dataclass
class S3Store:
    """A bucket and key prefix on S3 or MinIO."""

    bucket: str
    prefix: str
    client: Any

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix.strip('/')}/{key.lstrip('/')}".lstrip("/")

    def read_bytes(self, key: str) -> bytes:
        what = join_uri(self.uri, key)

        def read() -> bytes:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            return bytes(body.read())

        return _retry(read, what)

    def write_bytes(self, key: str, data: bytes) -> None:
        _retry(
            lambda: self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data),
            join_uri(self.uri, key),
        )

    def exists(self, key: str) -> bool:
        try:
            _retry(
                lambda: self.client.head_object(Bucket=self.bucket, Key=self._key(key)),
                join_uri(self.uri, key),
            )
        except ObjectNotFoundError:
            return False
        return True

    def list(self, prefix: str = "") -> list[str]:
        # retried and wrapped like every other call: an unreachable store is a StorageError
        return _retry(lambda: sorted(self._iter_keys(prefix)), join_uri(self.uri, prefix))

    def _iter_keys(self, prefix: str) -> Iterator[str]:
        root = self._key("")
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            for item in page.get("Contents", []):
                yield item["Key"][len(root) :]

    def delete(self, key: str) -> None:
        _retry(
            lambda: self.client.delete_object(Bucket=self.bucket, Key=self._key(key)),
            join_uri(self.uri, key),
        )


def s3_client(
    *,
    endpoint: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
) -> Any:
    """A boto3 S3 client configured for MinIO too.

    Settings not given come from the standard AWS environment (``AWS_ENDPOINT_URL_S3`` or
    ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
    ``AWS_DEFAULT_REGION``).
    """
    import boto3
    from botocore.config import Config

    endpoint = (
        endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    )
    config = Config(
        retries={"max_attempts": 5, "mode": "standard"},
        s3={"addressing_style": "path"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        connect_timeout=5,
        read_timeout=60,
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint or None,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        config=config,
    )


def open_store(uri: str, client: Any | None = None) -> ObjectStore:
    """The store rooted at ``uri``: ``s3://bucket/prefix``, ``file:///path`` or a plain path."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise StorageError(f"{uri!r} names no bucket: use s3://BUCKET/PREFIX")
        return S3Store(
            bucket=parsed.netloc, prefix=parsed.path.strip("/"), client=client or s3_client()
        )
    if parsed.scheme in ("", "file"):
        return LocalStore(Path(parsed.path if parsed.scheme == "file" else uri))
    raise StorageError(f"unsupported storage URI {uri!r}: use s3://BUCKET/PREFIX or a local path")
