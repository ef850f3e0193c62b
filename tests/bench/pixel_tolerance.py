# SPDX-License-Identifier: GPL-3.0-or-later
"""Measures the pixel distance (plugins/module_utils/photo/_compare.py) of the same photo after the changes a photo
service makes (re-encoding, downscaling, format change) against the distance between different photos, to
choose compare=pixels' default pixel_tolerance.

Photos: the natural images bundled with scikit-image when it is installed (no download), cut into
several square portraits each, plus synthetic portraits. Run:
    python tests/bench/pixel_tolerance.py [--json out.json]
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import random
import statistics
import sys

from PIL import Image, ImageDraw, ImageFilter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "..", ".."))  # the ansible_collections parent, in a build copy


def natural_photos():
    try:
        from skimage import data  # pylint: disable=import-outside-toplevel
    except ImportError:
        return []
    photos = []
    # ("cat" is the same picture as "chelsea", so it is left out.)
    for name in ("astronaut", "coffee", "chelsea", "rocket", "camera", "retina", "immunohistochemistry"):
        loader = getattr(data, name, None)
        if loader is None:
            continue
        try:
            array = loader()
        except Exception:  # pylint: disable=broad-except
            continue  # images that need a download are skipped
        image = Image.fromarray(array).convert("RGB")
        side = min(image.size) * 2 // 3
        for fx, fy in ((0.0, 0.0), (1.0, 0.0), (0.5, 0.5), (0.0, 1.0), (1.0, 1.0)):
            left = int((image.width - side) * fx)
            top = int((image.height - side) * fy)
            photos.append(("%s@%.1f,%.1f" % (name, fx, fy), image.crop((left, top, left + side, top + side)).resize((480, 480))))
    return photos


def synthetic_photos(count, seed=7):
    rng = random.Random(seed)
    photos = []
    for index in range(count):
        image = Image.new("RGB", (480, 480), tuple(rng.randrange(256) for dummy in range(3)))
        draw = ImageDraw.Draw(image)
        for dummy in range(12):
            x, y = rng.randrange(480), rng.randrange(480)
            radius = rng.randrange(20, 160)
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=tuple(rng.randrange(256) for dummy in range(3)))
        photos.append(("synthetic-%02d" % index, image.filter(ImageFilter.GaussianBlur(2))))
    return photos


def encode(image, fmt="JPEG", **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


SERVICE_CHANGES = {
    "jpeg q80 (emulator re-encode)": lambda img: encode(img, quality=80),
    "jpeg q60": lambda img: encode(img, quality=60),
    "jpeg q95 4:2:0": lambda img: encode(img, quality=95, subsampling=2),
    "resize 240 + jpeg q80": lambda img: encode(img.resize((240, 240), Image.LANCZOS), quality=80),
    "resize 96 + jpeg q75": lambda img: encode(img.resize((96, 96), Image.LANCZOS), quality=75),
    "resize 648 up + jpeg q85": lambda img: encode(img.resize((648, 648), Image.LANCZOS), quality=85),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    from ansible_collections.o365.outlook.plugins.module_utils.photo._compare import pixel_distance  # pylint: disable=import-outside-toplevel

    photos = natural_photos() + synthetic_photos(12)
    originals = {name: encode(image, "PNG") for name, image in photos}

    same = {}
    for change, apply in SERVICE_CHANGES.items():
        same[change] = [pixel_distance(originals[name], apply(image)) for name, image in photos]
    different = []
    for (name_a, _img_a), (name_b, image_b) in itertools.combinations(photos, 2):
        distance = pixel_distance(originals[name_a], encode(image_b, quality=80))
        if distance is not None:
            different.append((distance, name_a, name_b))
    different.sort()

    # A re-shot photo: the same scene framed 5% differently. It is a new photo and must count as different.
    reshot = []
    for name, image in photos:
        shift = image.width // 20
        moved = image.crop((shift, shift, image.width, image.height)).resize(image.size)
        reshot.append(pixel_distance(originals[name], encode(moved, quality=80)))

    all_same = [d for values in same.values() for d in values]
    figures = {
        "photos": len(photos),
        "natural": sum(1 for name, dummy in photos if not name.startswith("synthetic")),
        "same_photo": {change: {"max": round(max(v), 3), "median": round(statistics.median(v), 3)} for change, v in same.items()},
        "same_photo_max": round(max(all_same), 3),
        "different_pairs": len(different),
        "different_min": round(different[0][0], 3),
        "different_p1": round(different[len(different) // 100][0], 3),
        "different_median": round(statistics.median(d for d, _a, _b in different), 3),
        "closest_different": [(round(d, 3), a, b) for d, a, b in different[:5]],
        "reshot_min": round(min(reshot), 3),
        "reshot_median": round(statistics.median(reshot), 3),
    }
    for change, values in figures["same_photo"].items():
        print("same photo, %-30s max %6.3f  median %6.3f" % (change, values["max"], values["median"]))
    print("different photos: %d pairs, min %.3f, 1st percentile %.3f, median %.3f" % (
        figures["different_pairs"], figures["different_min"], figures["different_p1"], figures["different_median"]))
    print("closest different pairs:", figures["closest_different"])
    print("same scene re-framed by 5%%: min %.3f, median %.3f" % (figures["reshot_min"], figures["reshot_median"]))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(figures, handle, indent=2)


if __name__ == "__main__":
    main()
