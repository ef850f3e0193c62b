# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write one distinct photo per file name given: make_photos.py DIR NAME[:WIDTHxHEIGHT]...

The format follows the extension (.jpg/.jpeg JPEG, .png PNG); the size is 320x320 unless given. Each image is a different colour with a
different diagonal stripe, so no two are alike for a pixel comparison.
"""

from __future__ import annotations

import os
import sys

from PIL import Image, ImageDraw


def make_photo(path, index, size=(320, 320)):
    colour = ((70 * index + 40) % 256, (150 * index + 90) % 256, (30 * index + 200) % 256)
    image = Image.new("RGB", (320, 320), colour)
    draw = ImageDraw.Draw(image)
    offset = 40 * index
    draw.polygon([(offset, 0), (offset + 120, 0), (320, 320 - offset), (320, 200 - offset)], fill=(255, 255, 255))
    draw.ellipse((100, 60, 220, 180), fill=(20, 20, 20))
    kind = "PNG" if path.lower().endswith(".png") else "JPEG"
    image.resize(size).save(path, kind)


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    directory = argv[1]
    os.makedirs(directory, exist_ok=True)
    for index, name in enumerate(argv[2:], start=1):
        name, dummy, size = name.partition(":")
        make_photo(os.path.join(directory, name), index, tuple(int(side) for side in size.split("x")) if size else (320, 320))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
