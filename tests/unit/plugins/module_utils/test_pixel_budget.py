# SPDX-License-Identifier: GPL-3.0-or-later
"""The pixel budget of a many-user run (issue 16): what a job costs, known before decoding, and how jobs are admitted."""
from __future__ import annotations

import io
import os
import threading
import time

import pytest
from PIL import Image

from ansible_collections.o365.outlook.plugins.module_utils.photo import _pillow
from ansible_collections.o365.outlook.plugins.module_utils.photo._compare import may_decode
from ansible_collections.o365.outlook.plugins.module_utils.photo._pixel_budget import (
    BYTES_PER_PIXEL, DECODE_PIXEL_BUDGET, PixelBudget, photo_cost, source_cost)
from ansible_collections.o365.outlook.plugins.module_utils.photo._image import MAX_IMAGE_PIXELS
from ansible_collections.o365.outlook.tests.unit.plugins.module_utils.test_bulk_containment import png_bomb
from ansible_collections.o365.outlook.tests.unit.utils.threads import run_together


def encoded(size, image_format="PNG"):
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buffer, image_format)
    return buffer.getvalue()


def bytes_cost(data):
    return -(-len(data) // BYTES_PER_PIXEL)


def wait_until(predicate, timeout=10.0):
    """Polls until predicate() holds (synchronisation between threads, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.001)


class Holder:
    """A thread that holds `cost` of the budget until told to let go."""

    def __init__(self, budget, cost):
        self.granted = threading.Event()
        self.let_go = threading.Event()
        self.thread = threading.Thread(target=self._hold, args=(budget, cost), daemon=True)
        self.thread.start()

    def _hold(self, budget, cost):
        with budget.held(cost):
            self.granted.set()
            self.let_go.wait(30)

    def release(self):
        self.let_go.set()
        self.thread.join(30)


# ---------------------------------------------------------------- costs, known before decoding

def test_a_source_costs_its_header_pixels_plus_its_bytes(tmp_path):
    data = encoded((300, 200))
    path = tmp_path / "a.png"
    path.write_bytes(data)
    assert source_cost(str(path)) == 300 * 200 + bytes_cost(data)


def test_a_source_past_the_pixel_limit_costs_only_its_bytes_since_it_is_refused_before_decoding(tmp_path):
    data = png_bomb()
    path = tmp_path / "bomb.png"
    path.write_bytes(data)
    assert 50000 * 50000 > MAX_IMAGE_PIXELS
    assert source_cost(str(path)) == bytes_cost(data)


def test_without_pillow_nothing_is_decoded_so_a_source_costs_its_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(_pillow, "_PILLOW", None)
    monkeypatch.setattr(_pillow, "_PILLOW_ERROR", "ImportError")
    data = encoded((300, 200))
    path = tmp_path / "a.png"
    path.write_bytes(data)
    assert source_cost(str(path)) == bytes_cost(data)


def test_paths_that_are_never_read_cost_nothing_and_a_fifo_is_not_opened(tmp_path):
    fifo = tmp_path / "fifo.png"
    os.mkfifo(str(fifo))  # opening it for the header would block
    (tmp_path / "text.png").write_bytes(b"not an image")
    assert source_cost(str(fifo)) == 0
    assert source_cost(str(tmp_path / "missing.png")) == 0
    assert source_cost(None) == 0
    assert source_cost(str(tmp_path)) == 0
    assert source_cost(str(tmp_path / "text.png")) == bytes_cost(b"not an image")  # read whole, decoded never


def test_a_symbolic_link_costs_nothing_and_its_target_is_not_opened(tmp_path):
    """issue 17: load_source refuses a link, so its cost is 0; Pillow used to read the target's header through it."""
    target = tmp_path / "private.png"
    target.write_bytes(encoded((300, 200)))
    (tmp_path / "link.png").symlink_to(target)
    assert source_cost(str(tmp_path / "link.png")) == 0


def test_a_current_photo_costs_the_pixels_of_its_own_header_else_of_its_metadata():
    assert photo_cost(encoded((60, 40), "JPEG"), 648, 648) == 60 * 40
    assert photo_cost(b"GIF89a...", 648, 648) == 648 * 648
    assert photo_cost(None, 648, 648) == 0
    assert photo_cost(png_bomb(), 648, 648) == 0  # refused from its header, never decoded


def test_a_pixel_comparison_may_decode_only_with_a_current_photo_pillow_and_not_sha256(monkeypatch):
    assert may_decode("auto", b"photo") and may_decode("pixels", b"photo")
    assert not may_decode("sha256", b"photo")
    assert not may_decode("auto", None)
    monkeypatch.setattr(_pillow, "_PILLOW", None)
    monkeypatch.setattr(_pillow, "_PILLOW_ERROR", "ImportError")
    assert not may_decode("auto", b"photo") and not may_decode("pixels", b"photo")


def test_the_default_budget_admits_any_allowed_image():
    assert DECODE_PIXEL_BUDGET >= MAX_IMAGE_PIXELS
    assert PixelBudget().limit == DECODE_PIXEL_BUDGET


# ---------------------------------------------------------------- admission

def test_jobs_that_fit_hold_the_budget_together():
    budget = PixelBudget(10)
    with budget.held(4):
        with budget.held(6):
            assert budget.in_use == 10
    assert budget.in_use == 0


def test_a_job_waits_until_its_cost_fits():
    budget = PixelBudget(10)
    first = Holder(budget, 8)
    first.granted.wait(10)
    second = Holder(budget, 5)
    wait_until(lambda: budget.waiting == 1)
    assert not second.granted.is_set() and budget.in_use == 8
    first.release()
    assert second.granted.wait(10)
    assert budget.in_use == 5
    second.release()
    assert budget.in_use == 0


def test_a_job_larger_than_the_budget_runs_alone_and_is_never_refused():
    budget = PixelBudget(10)
    with budget.held(25):  # nothing else holds any: granted at once
        assert budget.in_use == 25
    small = Holder(budget, 1)
    small.granted.wait(10)
    big = Holder(budget, 25)
    wait_until(lambda: budget.waiting == 1)
    assert not big.granted.is_set()  # not beside anything else
    small.release()
    assert big.granted.wait(10)
    after = Holder(budget, 1)
    wait_until(lambda: budget.waiting == 1)
    assert not after.granted.is_set()  # nor anything beside it
    big.release()
    assert after.granted.wait(10)
    after.release()
    assert budget.in_use == 0


def test_first_come_first_served_a_big_job_is_not_overtaken_by_small_ones():
    budget = PixelBudget(10)
    running = Holder(budget, 6)
    running.granted.wait(10)
    big = Holder(budget, 8)
    wait_until(lambda: budget.waiting == 1)
    small = Holder(budget, 3)  # would fit beside the running job (6 + 3 <= 10), but the big job came first
    wait_until(lambda: small.granted.is_set() or budget.waiting == 2)
    assert not small.granted.is_set()
    running.release()
    assert big.granted.wait(10)
    assert not small.granted.is_set() and budget.in_use == 8  # 8 + 3 > 10: it waits for the big job
    big.release()
    assert small.granted.wait(10)
    small.release()
    assert budget.in_use == 0 and budget.waiting == 0


def test_an_exception_gives_the_budget_back():
    budget = PixelBudget(10)
    with pytest.raises(RuntimeError):
        with budget.held(7):
            raise RuntimeError("a Pillow surprise")
    assert budget.in_use == 0
    with budget.held(10):
        assert budget.in_use == 10


def test_a_job_that_decodes_nothing_never_waits():
    budget = PixelBudget(10)
    full = Holder(budget, 10)
    full.granted.wait(10)
    with budget.held(0):
        assert budget.in_use == 10 and budget.waiting == 0
    full.release()


def test_many_threads_never_hold_more_than_the_budget():
    budget = PixelBudget(100)
    lock = threading.Lock()
    held = [0, 0]  # now, most at once

    def work(index):
        for round_ in range(50):
            cost = 10 + (index * 7 + round_ * 13) % 60
            with budget.held(cost):
                with lock:
                    held[0] += cost
                    held[1] = max(held[1], held[0])
                time.sleep(0)  # let another thread in
                with lock:
                    held[0] -= cost
        return True

    assert run_together(16, work) == [True] * 16
    assert 0 < held[1] <= 100
    assert budget.in_use == 0 and budget.waiting == 0


def test_the_admitted_work_runs_on_the_budgets_few_decoder_threads_whatever_the_number_of_writers():
    budget = PixelBudget(100, decoders=2)

    def work(index):
        return budget.run(10 + index, lambda: (threading.current_thread(), budget.in_use))

    results = run_together(16, work)
    decoders = {thread for thread, _in_use in results}
    assert len(decoders) <= 2 and all(thread.name.startswith("pixel-budget") for thread in decoders)  # not the writers
    assert all(0 < in_use <= 100 for _thread, in_use in results)  # each ran while its cost was held
    assert budget.in_use == 0


def test_run_gives_the_budget_back_and_raises_what_the_work_raised():
    budget = PixelBudget(10)

    def surprise():
        raise RuntimeError("a Pillow surprise")

    with pytest.raises(RuntimeError, match="a Pillow surprise"):
        budget.run(7, surprise)
    assert budget.in_use == 0
    assert budget.run(25, lambda: budget.in_use) == 25  # larger than the budget: alone
