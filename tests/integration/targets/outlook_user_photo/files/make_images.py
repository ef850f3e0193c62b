# SPDX-License-Identifier: GPL-3.0-or-later
"""Writes the awkward source images the integration tests need into the folder given as argument."""

from __future__ import annotations

import io
import os
import random
import sys

from PIL import Image


def main(folder):
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(1)
    # Random pixels do not compress: 1300x1300 RGB is about 5 MB as PNG, over the 4 MB limit.
    noise = bytes(rng.getrandbits(8) for dummy in range(1300 * 1300 * 3))
    Image.frombytes("RGB", (1300, 1300), noise).save(os.path.join(folder, "oversize.png"), "PNG")
    Image.new("RGB", (200, 200), (250, 180, 20)).save(os.path.join(folder, "badge.gif"), "GIF")
    Image.new("RGB", (150, 150), (20, 180, 120)).save(os.path.join(folder, "badge.bmp"), "BMP")
    buffer = io.BytesIO()
    Image.new("RGB", (120, 120), (90, 90, 90)).save(buffer, "JPEG")
    with open(os.path.join(folder, "truncated.jpg"), "wb") as handle:
        handle.write(buffer.getvalue()[:25])
    with open(os.path.join(folder, "photo.heic"), "wb") as handle:
        handle.write(b"\0\0\0\x18ftypheic" + b"\0" * 64)
    with open(os.path.join(folder, "empty.jpg"), "wb"):
        pass


if __name__ == "__main__":
    main(sys.argv[1])
