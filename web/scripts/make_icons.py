"""Draw Tandem's PWA icons (two overlapping rings on blue) as PNGs, with the standard library only.

python web/scripts/make_icons.py      # writes web/static/icons/icon-{192,512}.png
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

ICONS = Path(__file__).resolve().parent.parent / "static" / "icons"
BG = (31, 111, 235)
RINGS = ((255, 255, 255), (255, 197, 61))


def _png(width: int, height: int, rows: list[bytes]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def draw(size: int) -> bytes:
    """A maskable icon: full-bleed background, the mark inside the 80% safe zone."""
    s = size / 512
    centers = ((206 * s, 256 * s), (306 * s, 256 * s))
    radius, width = 92 * s, 26 * s
    rows = []
    for y in range(size):
        row = bytearray()
        for x in range(size):
            px, py = x + 0.5, y + 0.5
            color = BG
            for (cx, cy), ring in zip(centers, RINGS, strict=True):
                d = abs(math.hypot(px - cx, py - cy) - radius)
                cover = max(0.0, min(1.0, width / 2 - d + 0.5))
                if cover > 0:
                    color = tuple(
                        round(c * (1 - cover) + r * cover) for c, r in zip(color, ring, strict=True)
                    )
            row += bytes((*color, 255))
        rows.append(bytes(row))
    return _png(size, size, rows)


def main() -> None:
    ICONS.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        (ICONS / f"icon-{size}.png").write_bytes(draw(size))


if __name__ == "__main__":
    main()
