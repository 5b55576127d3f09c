"""Real PNG images made in-process (zlib + struct, no imaging library): the simulator's results.

Each image is a smooth gradient with a few soft discs whose colours and places come from a seed,
so different jobs get visibly different pictures and the same seed always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A text chunk that keeps a result image above 2 KiB whatever its pixels compress to: real results
# are megabytes, and an archive size cap a test sets at the configurable minimum (1 KiB) must bite.
RESULT_COMMENT = b"Comment\x00" + b"hookline simulator result image " * 64


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def render(width: int, height: int, seed: str, *, comment: bytes | None = None) -> bytes:
    """An 8-bit RGB PNG of ``width`` x ``height`` pixels drawn from ``seed`` (deterministic), with
    ``comment`` as a ``tEXt`` chunk when given."""
    if not (1 <= width <= 4096 and 1 <= height <= 4096):
        raise ValueError("width and height must be 1 to 4096 pixels")
    digest = hashlib.sha256(seed.encode()).digest()
    top = digest[0:3]
    bottom = digest[3:6]
    discs = [
        (
            digest[6 + 5 * i] * width // 256,
            digest[7 + 5 * i] * height // 256,
            4 + digest[8 + 5 * i] % 12,
            digest[9 + 5 * i : 11 + 5 * i],
        )
        for i in range(4)
    ]
    scale = max(width, height) / 64
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type 0 (None) for every scanline
        t = y / max(1, height - 1)
        base = [int(top[c] * (1 - t) + bottom[c] * t) for c in range(3)]
        for x in range(width):
            r, g, b = base
            for cx, cy, radius, tint in discs:
                dx, dy = x - cx, y - cy
                if dx * dx + dy * dy <= (radius * scale) ** 2:
                    r = (r + tint[0]) // 2
                    g = (g + tint[1]) // 2
                    b = (b + 255 - tint[0]) // 2
            rows += bytes((r, g, b))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit, truecolour, no interlace
    return (
        SIGNATURE
        + _chunk(b"IHDR", header)
        + (_chunk(b"tEXt", comment) if comment else b"")
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 6))
        + _chunk(b"IEND", b"")
    )
