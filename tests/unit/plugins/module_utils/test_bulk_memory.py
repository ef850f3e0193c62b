# SPDX-License-Identifier: GPL-3.0-or-later
"""One memory bound for images (issue 16): every writer of a sync decodes within one pixel budget, whatever
max_parallelism is; the $batch reads are grouped by pixels and by expected bytes."""
from __future__ import annotations

import io
import threading
import time

from PIL import Image

from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import PhotoMetadata
from ansible_collections.o365.outlook.plugins.module_utils.many_users import _engine
from ansible_collections.o365.outlook.plugins.module_utils.many_users._engine import BulkEngine, Job, content_groups
from ansible_collections.o365.outlook.plugins.module_utils.photo import _compare, _source
from ansible_collections.o365.outlook.plugins.module_utils.photo._current import CurrentPhoto
from ansible_collections.o365.outlook.plugins.module_utils.photo._pillow import decode_image
from ansible_collections.o365.outlook.plugins.module_utils.photo._pixel_budget import DECODER_THREADS, PixelBudget
from ansible_collections.o365.outlook.plugins.module_utils.photo._reconcile import PhotoPolicy
from ansible_collections.o365.outlook.tests.unit.plugins.module_utils.test_bulk import FakeTenant, jpeg

SIZE = (400, 300)
PIXELS = SIZE[0] * SIZE[1]


class DecodeMeter:
    """decode_image as the sync calls it (conversion and comparison), recording the pixels being decoded at once
    across all writer threads."""

    def __init__(self, fail_for=None):
        self.lock = threading.Lock()
        self.now = self.peak = self.calls = 0
        self.threads = set()  # the names of the threads that decoded
        self.fail_for = fail_for  # a (width, height) whose decode raises, like a Pillow surprise

    def __call__(self, data, max_pixels, reduce=False):
        size = Image.open(io.BytesIO(data)).size  # the header only
        pixels = size[0] * size[1]
        with self.lock:
            self.now += pixels
            self.peak = max(self.peak, self.now)
            self.calls += 1
            self.threads.add(threading.current_thread().name)
        try:
            time.sleep(0.005)  # stay in the decode while other writers reach theirs (without a budget, all 16 do)
            if size == self.fail_for:
                raise RuntimeError("a Pillow surprise")
            return decode_image(data, max_pixels, reduce)
        finally:
            with self.lock:
                self.now -= pixels


def metered(monkeypatch, **kwargs):
    meter = DecodeMeter(**kwargs)
    monkeypatch.setattr(_source, "decode_image", meter)
    monkeypatch.setattr(_compare, "decode_image", meter)
    return meter


def noisy_png(path, seed, size=SIZE):
    """A PNG that does not compress to nothing, distinct for each seed."""
    image = Image.effect_noise(size, 40 + seed % 20).convert("RGB")
    image.putpixel((seed % size[0], 0), (255, seed % 256, 0))
    image.save(str(path), "PNG")
    return str(path)


def big_sources(tmp_path, count):
    return [noisy_png(tmp_path / ("u%02d.png" % index), index) for index in range(count)]


def sync(tenant, jobs, budget, **kwargs):
    engine = BulkEngine(tenant, PhotoPolicy(read_after_write=False), parallelism=2, max_parallelism=16, pixel_budget=budget, **kwargs)
    return engine, engine.run(jobs)


def test_the_pixels_decoded_at_once_stay_within_the_budget_with_16_writers(tmp_path, monkeypatch):
    sources = big_sources(tmp_path, 40)
    # Half the users have another photo of the same size: the pixel comparison decodes it and the source.
    tenant = FakeTenant({"u%02d@x" % n: jpeg((0, n, 200), SIZE) for n in range(0, 40, 2)})
    meter = metered(monkeypatch)
    budget = PixelBudget(3 * PIXELS)
    engine, results = sync(tenant, [Job("u%02d@x" % n, src=src) for n, src in enumerate(sources)], budget)
    assert [r["action"] for r in results] == ["uploaded"] * 40
    assert meter.calls >= 40 + 2 * 20  # each source converted; 20 comparisons of two images
    assert meter.peak <= budget.limit  # without the budget: up to 16 x 120,000 pixels at once
    # ... and on the budget's few threads, not on 16 writers that would each keep the memory they freed.
    assert len(meter.threads) <= DECODER_THREADS and all(name.startswith("pixel-budget") for name in meter.threads)
    assert engine.pixels.in_use == 0 and engine.pixels.waiting == 0


def test_an_image_larger_than_the_budget_is_still_processed_alone(tmp_path, monkeypatch):
    sources = big_sources(tmp_path, 6)
    tenant = FakeTenant({})
    meter = metered(monkeypatch)
    engine, results = sync(tenant, [Job("u%02d@x" % n, src=src) for n, src in enumerate(sources)], PixelBudget(PIXELS // 10))
    assert [r["action"] for r in results] == ["uploaded"] * 6
    assert sorted(user for _put, user in tenant.writes()) == ["u%02d@x" % n for n in range(6)]
    assert meter.peak == PIXELS  # one at a time
    assert engine.pixels.in_use == 0


def test_a_failure_while_decoding_gives_the_budget_back(tmp_path, monkeypatch):
    sources = big_sources(tmp_path, 8)
    surprise = noisy_png(tmp_path / "surprise.png", 99, size=(401, 300))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 5000)
    metered(monkeypatch, fail_for=(401, 300))
    jobs = [Job("u%02d@x" % n, src=src) for n, src in enumerate(sources)]
    jobs[2:2] = [Job("surprise@x", src=surprise), Job("broken@x", src=str(broken))]
    engine, results = sync(FakeTenant({}), jobs, PixelBudget(100 * PIXELS))
    actions = {r["user"]: r["action"] for r in results}
    assert actions.pop("surprise@x") == "failed" and actions.pop("broken@x") == "failed"
    assert set(actions.values()) == {"uploaded"}
    assert engine.pixels.in_use == 0 and engine.pixels.waiting == 0


def test_the_budget_is_given_back_before_the_upload_goes_out(tmp_path):
    held_at_upload = []

    class Tenant(FakeTenant):
        def put_content(self, user, data, content_type):
            held_at_upload.append(engine.pixels.in_use)
            super().put_content(user, data, content_type)

    sources = big_sources(tmp_path, 3)
    engine = BulkEngine(Tenant({"u00@x": jpeg((1, 2, 3), SIZE)}), PhotoPolicy(read_after_write=False), parallelism=1, max_parallelism=1)
    results = engine.run([Job("u%02d@x" % n, src=src) for n, src in enumerate(sources)])
    assert [r["action"] for r in results] == ["uploaded"] * 3
    assert held_at_upload == [0, 0, 0]


def test_the_current_photo_counts_only_when_a_pixel_comparison_may_decode_it(tmp_path):
    source = noisy_png(tmp_path / "a.png", 1)
    current = CurrentPhoto(PhotoMetadata("648x648", 648, 648, "image/jpeg", "e"), jpeg((1, 2, 3), SIZE))
    job = Job("a@x", src=source)

    def cost(**policy):
        return BulkEngine(FakeTenant({}), PhotoPolicy(**policy))._decode_cost(job, current)

    alone = cost(compare="sha256")
    assert alone > PIXELS  # the header's pixels and the file's bytes
    assert cost(compare="auto") == cost(compare="pixels") == alone + PIXELS  # the photo's own header, not its metadata
    assert cost(compare="auto", only_if_missing=True) == alone
    assert BulkEngine(FakeTenant({}), PhotoPolicy())._decode_cost(job, CurrentPhoto(None)) == alone


def test_content_groups_split_by_expected_bytes_too(monkeypatch):
    big = PhotoMetadata("3000x3000", 3000, 3000, "image/png", "b")
    exchange = PhotoMetadata("648x648", 648, 648, "image/jpeg", "e")
    # The usual case: a chunk of 20 photos as Exchange stores them is one $batch.
    usual = {"e%02d" % n: exchange for n in range(20)}
    assert [len(g) for g in content_groups(sorted(usual), usual)] == [20]
    # Past the pixel budget, the byte budget still holds: 2 x 9 MP at 4 bytes a pixel is over 64 MiB.
    monkeypatch.setattr(_engine, "BATCH_PIXEL_BUDGET", 10 ** 12)
    metadata = dict(usual, big1=big, big2=big)
    assert list(content_groups(["big1", "e00", "big2", "e01"], metadata)) == [["big1", "e00"], ["big2", "e01"]]
    assert 2 * 3000 * 3000 * _engine.EXPECTED_BYTES_PER_PIXEL > _engine.BATCH_BYTE_BUDGET
    assert (3000 * 3000 + 648 * 648) * _engine.EXPECTED_BYTES_PER_PIXEL <= _engine.BATCH_BYTE_BUDGET
