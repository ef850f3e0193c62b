# SPDX-License-Identifier: GPL-3.0-or-later
"""The preparation part of the benchmark (issue 22): what load_source costs per image, for each crop mode.

Inputs are real photographs: scikit-image's bundled astronaut.png, chelsea.png and coffee.png (read from its wheel,
no download), cut to a centred 3:4 portrait and scaled with Pillow's LANCZOS to 1, 4 and 12 megapixels (866x1155,
1732x2309, 3000x4000), saved as JPEG quality 90 with EXIF Orientation 1, and a second set stored on its side with
Orientation 6 (which load_source must turn upright, so it decodes and re-encodes even with crop=none). They are
made afresh into the work dir on every run.

Each size x orientation x crop (none, square, face) x max_dimension (none, 648) is timed as one
load_source(path, convert=True, preparation=Preparation.from_options(crop, max_dimension, None)) call, the repeats
interleaved (every cell once, then again), in a subprocess that imports the collection from --collections (the
build under test), on one thread (cv2.setNumThreads(1); Pillow decodes and encodes on one thread anyway). Two
baselines of the same run and size: crop=none on the Orientation 1 file (sent as it is: the structure check and a
decode at 1/8 scale) and crop=none on the Orientation 6 file (a full decode, turn and encode: "re-encode").

    python tests/bench/preparation.py --collections DIR [--work-dir DIR] [--repeats 7,5,3] [--json FILE]

From run_bench.py: `--parts preparation` (run_preparation, print_preparation). Needs scikit-image and
opencv-python-headless in the Python that runs it (requirements.txt); without them it fails, it never skips.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

PHOTOS = ("astronaut", "chelsea", "coffee")  # astronaut has a face; the others test the search on photos of no person
SIZES = ((1, (866, 1155)), (4, (1732, 2309)), (12, (3000, 4000)))  # megapixels, (width, height) upright: 3:4 portrait
ORIENTATIONS = (1, 6)
CROPS = ("none", "square", "face")
MAX_DIMENSIONS = (None, 648)
DEFAULT_REPEATS = {1: 7, 4: 5, 12: 3}  # per photo: 12 MP cells take up to half a second each
JPEG_QUALITY = 90
_ORIENTATION_TAG = 0x0112
PROBLEM = ("the preparation part needs %s in the Python that runs the benchmark (%s): "
           "`%s -m pip install -r requirements.txt` (make venv) installs it")


def requirements_problem():
    """None when scikit-image (its bundled photos) and OpenCV can be found, else what is missing and how to fix it."""
    missing = []
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.origin:
        missing.append("scikit-image (its bundled photos astronaut.png, chelsea.png, coffee.png)")
    else:
        data = os.path.join(os.path.dirname(spec.origin), "data")
        absent = [name for name in PHOTOS if not os.path.isfile(os.path.join(data, name + ".png"))]
        if absent:
            missing.append("scikit-image with its bundled photos (%s has no %s)" % (data, ", ".join(n + ".png" for n in absent)))
    if importlib.util.find_spec("cv2") is None:
        missing.append("opencv-python-headless (crop=face)")
    if not missing:
        return None
    return PROBLEM % (" and ".join(missing), sys.executable, sys.executable)


def _photo_path(name):
    spec = importlib.util.find_spec("skimage")
    return os.path.join(os.path.dirname(spec.origin), "data", name + ".png")


def _portrait(image):
    """The largest centred 3:4 portrait of an image."""
    width, height = image.size
    if width * 4 >= height * 3:
        crop_width, crop_height = height * 3 // 4, height
    else:
        crop_width, crop_height = width, width * 4 // 3
    left, top = (width - crop_width) // 2, (height - crop_height) // 2
    return image.crop((left, top, left + crop_width, top + crop_height))


def make_inputs(work_dir):
    """The JPEG files, made afresh: {"files": [{photo, megapixels, orientation, path, bytes, stored}], ...}."""
    from PIL import Image  # pylint: disable=import-outside-toplevel

    problem = requirements_problem()
    if problem:
        raise RuntimeError(problem)
    lanczos = getattr(Image, "Resampling", Image).LANCZOS
    folder = os.path.join(work_dir, "preparation-inputs")
    os.makedirs(folder, exist_ok=True)
    files, sources = [], {}
    for name in PHOTOS:
        with Image.open(_photo_path(name)) as original:
            portrait = _portrait(original.convert("RGB"))
        sources[name] = "%dx%d, its centred 3:4 portrait %dx%d" % (original.size + portrait.size)
        for megapixels, size in SIZES:
            upright = portrait.resize(size, lanczos)
            for orientation in ORIENTATIONS:
                exif = Image.Exif()
                exif[_ORIENTATION_TAG] = orientation
                # Orientation 6: the viewer turns the stored pixels 90 degrees clockwise, so they are stored turned
                # 90 degrees anticlockwise (landscape, as a camera held upright writes them).
                stored = upright if orientation == 1 else upright.transpose(Image.Transpose.ROTATE_90)
                path = os.path.join(folder, "%s-%dmp-o%d.jpg" % (name, megapixels, orientation))
                stored.save(path, "JPEG", quality=JPEG_QUALITY, exif=exif.tobytes())
                files.append({"photo": name, "megapixels": megapixels, "orientation": orientation, "path": path,
                              "bytes": os.path.getsize(path), "stored": "%dx%d" % stored.size, "upright": "%dx%d" % size})
    return {"files": files, "sources": sources, "folder": folder}


# ---------------------------------------------------------------- the measuring subprocess

def _import_collection(collections):
    """The collection's photo modules from `collections` (the ansible_collections parent), checked to come from there."""
    root = os.path.abspath(collections)
    sys.path.insert(0, root)
    # pylint: disable=import-outside-toplevel
    from ansible_collections.o365.outlook.plugins.module_utils.photo import _faces, _prepare, _source
    for module in (_faces, _prepare, _source):
        if not os.path.abspath(module.__file__).startswith(root + os.sep):
            raise RuntimeError("%s was imported from %s, not from %s" % (module.__name__, module.__file__, root))
    return _source, _prepare, _faces


def _timed(call):
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return result, (time.perf_counter() - wall) * 1000.0, (time.process_time() - cpu) * 1000.0


def _breakdown(files, repeats, source, prepare, faces):
    """Where the time goes, on the astronaut photo: each step of load_source's work on its own (private functions of
    the build; a step the build does not have is reported as not measured)."""
    steps = {}
    try:
        pixel_limit = source.MAX_IMAGE_PIXELS
        decode, open_image, encode = source.decode_image, source._open_image, source._encode_jpeg  # pylint: disable=protected-access
        scaled, centred, find_face = prepare._scaled, prepare.centred_square, faces.find_face  # pylint: disable=protected-access
    except AttributeError as exc:
        return {"not_measured": "this build lacks a step: %s" % exc}
    for megapixels, _size in SIZES:
        upright = next(f for f in files if f["photo"] == "astronaut" and f["megapixels"] == megapixels and f["orientation"] == 1)
        turned = next(f for f in files if f["photo"] == "astronaut" and f["megapixels"] == megapixels and f["orientation"] == 6)
        with open(upright["path"], "rb") as handle:
            data = handle.read()
        with open(turned["path"], "rb") as handle:
            turned_data = handle.read()
        image = open_image(upright["path"], data, "jpeg")[0]
        small = scaled(image, 648)
        square = image.crop(centred(image.size))
        cases = [("decode at 1/8 (the as-is check)", lambda: decode(data, pixel_limit, reduce=True).size),
                 ("decode, whole", lambda: decode(data, pixel_limit).size),
                 ("decode + upright + RGB (Orientation 1)", lambda: open_image(upright["path"], data, "jpeg")[0].size),
                 ("decode + upright + RGB (Orientation 6)", lambda: open_image(turned["path"], turned_data, "jpeg")[0].size),
                 ("face search (DETECT_SIDE %d px)" % faces.DETECT_SIDE, lambda: find_face(image).box),
                 ("scale to 648 (LANCZOS)", lambda: scaled(image, 648).size),
                 ("encode, whole size", lambda: len(encode(image))),
                 ("encode, centred square", lambda: len(encode(square))),
                 ("encode, 648 px", lambda: len(encode(small)))]
        for name, call in cases:
            call()  # warm
            walls = [_timed(call)[1] for _unused in range(repeats[megapixels])]
            steps.setdefault(name, {})[str(megapixels)] = round(statistics.median(walls), 1)
    return {"photo": "astronaut", "median_ms": steps}


def measure(collections, manifest, repeats):
    """In the subprocess: every cell's samples, and the breakdown."""
    source, prepare, faces = _import_collection(collections)
    import cv2  # pylint: disable=import-outside-toplevel
    threads_before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    problem = faces.opencv_problem()
    if problem:  # find_face would fall back to a square crop silently: the face rows would measure the wrong thing
        raise RuntimeError("crop=face cannot search faces in this Python: %s" % problem)
    files = manifest["files"]
    by_key = {(f["photo"], f["megapixels"], f["orientation"]): f for f in files}
    preparations = {(crop, limit): prepare.Preparation.from_options(crop, limit, None) for crop in CROPS for limit in MAX_DIMENSIONS}
    for megapixels, _size in SIZES:  # warm: the imports, the cascade, the allocator's arenas at each size
        for orientation in ORIENTATIONS:
            source.load_source(by_key[("astronaut", megapixels, orientation)]["path"], preparation=preparations[("face", None)])
    cells = {}
    started = time.monotonic()
    for repeat in range(max(repeats.values())):
        for megapixels, _size in SIZES:
            if repeat >= repeats[megapixels]:
                continue
            for photo in PHOTOS:
                for orientation in ORIENTATIONS:
                    path = by_key[(photo, megapixels, orientation)]["path"]
                    for (crop, limit), preparation in preparations.items():
                        image, wall, cpu = _timed(lambda p=preparation: source.load_source(path, convert=True, preparation=p))
                        cell = cells.setdefault("%d|%d|%s|%s" % (megapixels, orientation, crop, limit), {})
                        one = cell.setdefault(photo, {"wall_ms": [], "cpu_ms": []})
                        one["wall_ms"].append(round(wall, 2))
                        one["cpu_ms"].append(round(cpu, 2))
                        one.update(output="%dx%d" % (image.info.width, image.info.height), output_bytes=len(image.data),
                                   conversion=image.conversion, warning=image.warning)
        print("preparation: repeat %d done (%.0f s)" % (repeat + 1, time.monotonic() - started), file=sys.stderr, flush=True)
    import PIL  # pylint: disable=import-outside-toplevel
    return {"cells": cells, "breakdown": _breakdown(files, repeats, source, prepare, faces),
            "measure_seconds": round(time.monotonic() - started, 1),
            "environment": {"python": platform.python_version(), "pillow": PIL.__version__, "opencv": cv2.__version__,
                            "opencv_threads": cv2.getNumThreads(), "opencv_threads_default": threads_before,
                            "cpus": os.cpu_count(), "collection": os.path.dirname(os.path.abspath(source.__file__)),
                            "detect_side": getattr(faces, "DETECT_SIDE", None)}}


# ---------------------------------------------------------------- the part

def parse_repeats(text):
    values = [int(v) for v in str(text).split(",") if v.strip()]
    if len(values) != len(SIZES) or min(values) < 1:
        raise ValueError("repeats: one count of at least 1 per size (%s MP), e.g. 7,5,3, got %r"
                         % (", ".join(str(mp) for mp, _s in SIZES), text))
    return {mp: count for (mp, _size), count in zip(SIZES, values)}


def _label(limit):
    return "-" if limit is None else str(limit)


def summarise(raw, inputs, repeats):
    """The part's report: one row per size x crop x max_dimension, both orientations, ratios to the baselines."""
    rows, baselines = [], {}
    cells = raw["cells"]

    def cell(megapixels, orientation, crop, limit):
        samples = cells["%d|%d|%s|%s" % (megapixels, orientation, crop, limit)]
        walls = [v for one in samples.values() for v in one["wall_ms"]]
        cpus = [v for one in samples.values() for v in one["cpu_ms"]]
        return {"median_ms": round(statistics.median(walls), 1), "min_ms": round(min(walls), 1),
                "cpu_median_ms": round(statistics.median(cpus), 1), "samples": len(walls),
                "per_photo": {photo: {"median_ms": round(statistics.median(one["wall_ms"]), 1), "min_ms": round(min(one["wall_ms"]), 1),
                                      "output": one["output"], "output_bytes": one["output_bytes"],
                                      "conversion": one["conversion"], "warning": one["warning"]}
                              for photo, one in samples.items()}}

    for megapixels, size in SIZES:
        as_is = cell(megapixels, 1, "none", None)["median_ms"]
        reencode = cell(megapixels, 6, "none", None)["median_ms"]
        baselines[str(megapixels)] = {"size": "%dx%d" % size, "as_is_ms": as_is, "reencode_ms": reencode,
                                      "as_is": "crop=none, Orientation 1, no max_dimension: sent as it is",
                                      "reencode": "crop=none, Orientation 6, no max_dimension: decoded, turned, encoded"}
        for crop in CROPS:
            for limit in MAX_DIMENSIONS:
                row = {"megapixels": megapixels, "size": "%dx%d" % size, "crop": crop, "max_dimension": limit}
                for orientation in ORIENTATIONS:
                    measured = cell(megapixels, orientation, crop, limit)
                    measured["per_reencode"] = round(measured["median_ms"] / reencode, 2)
                    measured["per_as_is"] = round(measured["median_ms"] / as_is, 1)
                    row["orientation_%d" % orientation] = measured
                rows.append(row)
    ratios = {}
    for megapixels, _size in SIZES:
        base = baselines[str(megapixels)]
        face = next(r for r in rows if r["megapixels"] == megapixels and r["crop"] == "face" and r["max_dimension"] is None)
        ratios["%d MP face/none (as is)" % megapixels] = round(face["orientation_1"]["median_ms"] / base["as_is_ms"], 1)
        ratios["%d MP face/none (re-encode)" % megapixels] = round(face["orientation_1"]["median_ms"] / base["reencode_ms"], 2)
    return {"photos": list(PHOTOS), "sources": inputs["sources"], "sizes": {str(mp): "%dx%d" % s for mp, s in SIZES},
            "jpeg_quality": JPEG_QUALITY, "repeats": {str(k): v for k, v in repeats.items()},
            "inputs": [{k: f[k] for k in ("photo", "megapixels", "orientation", "stored", "bytes")} for f in inputs["files"]],
            "method": "load_source(path, convert=True, preparation=Preparation.from_options(crop, max_dimension, None)) per "
                      "image; repeats interleaved; one thread; median and min of photos x repeats (wall clock); a shared, "
                      "noisy machine: quote the medians",
            "baselines": baselines, "rows": rows, "ratios": ratios, "breakdown": raw["breakdown"],
            "environment": raw["environment"], "measure_seconds": raw["measure_seconds"]}


def run_preparation(collections, work_dir, repeats=None):
    """Makes the inputs, measures in a subprocess importing the collection from `collections`, returns the report."""
    problem = requirements_problem()
    if problem:
        raise RuntimeError(problem)
    repeats = dict(repeats or DEFAULT_REPEATS)
    work = os.path.join(work_dir, "preparation")
    os.makedirs(work, exist_ok=True)
    inputs = make_inputs(work)
    manifest, out = os.path.join(work, "manifest.json"), os.path.join(work, "measured.json")
    with open(manifest, "w", encoding="utf-8") as handle:
        json.dump(inputs, handle)
    if os.path.exists(out):
        os.unlink(out)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)  # the collection comes from --collections only
    cmd = [sys.executable, os.path.abspath(__file__), "--measure", "--collections", os.path.abspath(collections),
           "--manifest", manifest, "--out", out, "--repeats", ",".join(str(repeats[mp]) for mp, _s in SIZES)]
    # Its progress and any traceback go to this process's stderr.
    done = subprocess.run(cmd, env=env, cwd=work, check=False)
    if done.returncode != 0 or not os.path.exists(out):
        raise RuntimeError("preparation: the measuring process failed (exit %d): see its traceback above" % done.returncode)
    with open(out, encoding="utf-8") as handle:
        raw = json.load(handle)
    return summarise(raw, inputs, repeats)


def print_preparation(part):
    env = part["environment"]
    print("\npreparation (issue 22): load_source per image, %s as 3:4 JPEG q%d; median (min) ms of %d photos x %s repeats "
          "(1/4/12 MP), one thread (Python %s, Pillow %s, OpenCV %s); a shared, noisy machine: quote the medians" % (
              ", ".join(part["photos"]), part["jpeg_quality"], len(part["photos"]), "/".join(str(v) for v in part["repeats"].values()),
              env["python"], env["pillow"], env["opencv"]))
    header = ("size", "crop", "max_dim", "Orientation 1", "Orientation 6", "o1/re-encode", "o6/re-encode", "output (astronaut, o1)")
    print("%-16s %-6s %7s %17s %17s %12s %12s  %s" % header)
    for row in part["rows"]:
        one, six = row["orientation_1"], row["orientation_6"]
        out = one["per_photo"]["astronaut"]
        sent = "as is" if out["conversion"] is None else "%s, %.0f KB" % (out["output"], out["output_bytes"] / 1024.0)
        print("%-16s %-6s %7s %17s %17s %12.2f %12.2f  %s" % (
            "%d MP %s" % (row["megapixels"], row["size"]), row["crop"], _label(row["max_dimension"]),
            "%.1f (%.1f)" % (one["median_ms"], one["min_ms"]), "%.1f (%.1f)" % (six["median_ms"], six["min_ms"]),
            one["per_reencode"], six["per_reencode"], sent))
    for megapixels, base in part["baselines"].items():
        print("  %s MP: as is %.1f ms, re-encode %.1f ms; face (o1, no max_dimension) / as is %.1fx, / re-encode %.2fx" % (
            megapixels, base["as_is_ms"], base["reencode_ms"], part["ratios"]["%s MP face/none (as is)" % megapixels],
            part["ratios"]["%s MP face/none (re-encode)" % megapixels]))
    breakdown = part["breakdown"]
    if "not_measured" in breakdown:
        print("  breakdown NOT MEASURED: %s" % breakdown["not_measured"])
        return
    print("  where the time goes (astronaut, median ms): %s" % " | ".join("%s MP" % mp for mp in part["sizes"]))
    for step, values in breakdown["median_ms"].items():
        print("    %-42s %s" % (step, "  ".join("%8.1f" % values[mp] for mp in part["sizes"])))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--collections", required=True, help="directory holding ansible_collections/o365/outlook")
    parser.add_argument("--work-dir", default=os.path.join(REPO, ".build", "bench"))
    parser.add_argument("--repeats", default=",".join(str(DEFAULT_REPEATS[mp]) for mp, _s in SIZES),
                        help="repeats per photo at 1, 4 and 12 MP")
    parser.add_argument("--json", help="write the part's report here")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # the subprocess
    parser.add_argument("--manifest", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        repeats = parse_repeats(args.repeats)
    except ValueError as exc:
        parser.error(str(exc))
    if args.measure:
        with open(args.manifest, encoding="utf-8") as handle:
            manifest = json.load(handle)
        raw = measure(args.collections, manifest, repeats)
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(raw, handle)
        return
    try:
        part = run_preparation(args.collections, args.work_dir, repeats)
    except RuntimeError as exc:
        sys.exit(str(exc))
    print_preparation(part)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(part, handle, indent=2)


if __name__ == "__main__":
    main()
