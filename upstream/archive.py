"""The content-addressed image archive: ``<archive_dir>/<sha256[:2]>/<sha256>``.

A file's name is the SHA-256 of its bytes, so writing the same image twice is a no-op, concurrent
writers cannot conflict (each writes a temporary file and renames it into place), and a file can be
checked against its name. The content type is not stored: it is read from the image's own first
bytes when it is served (only PNG, JPEG, WebP and GIF are ever archived).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from pathlib import Path

from hookline.retention import archive_file
from upstream.images import sniff

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def is_sha256(value: str) -> bool:
    return _SHA256.match(value) is not None


class Archive:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise ValueError("not a lower-case hex SHA-256")
        return archive_file(self.root, sha256)

    async def put(self, data: bytes) -> str:
        """Store ``data`` (durably: fsync before the rename) and return its SHA-256."""
        sha256 = hashlib.sha256(data).hexdigest()
        await asyncio.to_thread(self._write, sha256, data)
        return sha256

    def _write(self, sha256: str, data: bytes) -> None:
        target = self.path(sha256)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def content_type(self, sha256: str) -> str | None:
        """The image type of an archived file, or None when there is no such file."""
        try:
            with self.path(sha256).open("rb") as f:
                head = f.read(16)
        except (FileNotFoundError, ValueError):
            return None
        return sniff(head) or "application/octet-stream"
