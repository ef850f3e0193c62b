# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""The pixels that all the writers of a many-user run may hold decoded at once.

Why: each writer reads its source file whole, decodes and converts it with Pillow (about 4 bytes a pixel, and a
copy or two while converting), and for a pixel comparison decodes the current photo too. Without a shared bound,
memory grows with the number of writers: 64 writers of 50-megapixel sources would need some 20 GB.

A job asks for its cost before it reads or decodes anything: the pixels the source's header declares, its file's
bytes counted as pixels (so 64 writers never hold 64 files of 256 MiB either) and, when a pixel comparison may
follow, the current photo's pixels. Requests are served in the order they came (no big image waits forever behind
a stream of small ones), and one request larger than the whole budget is served alone, so every job gets its turn.

The admitted work runs on a few decoder threads of the budget's own, not on the writer that asked: memory that a
thread frees goes back to that thread's malloc arena (glibc keeps one per thread, up to 8 per core), where mostly
that thread reuses it. With the budget alone, 64 writers taking turns each kept what their image had needed: 8
sources of 49 megapixels still took 3.1 GB, one at a time. On its own threads, the next image reuses that memory.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import io
import os
import threading
from typing import Callable, Iterator, TypeVar

from ..common._errors import SourceImageError
from ._content import ImageContent
from ._image import MAX_IMAGE_PIXELS, inspect_image, open_source
from ._pillow import header_size

# 64 megapixels decoded at once: about 256 MB of pixels, so a run's images stay under about 1 GB with the copies made
# while converting, and any image up to MAX_IMAGE_PIXELS (50 million) fits; smaller images share it.
DECODE_PIXEL_BUDGET = 64 * 1000 * 1000
# Pillow holds a decoded pixel in 4 bytes: a file's bytes cost the pixels they would fill.
BYTES_PER_PIXEL = 4
# Decoding is CPU work, so more threads than cores would not be faster; each thread keeps about what its largest image
# needed (0.6 GB for 50 megapixels), so at most 4.
DECODER_THREADS = max(1, min(4, os.cpu_count() or 1))

Result = TypeVar("Result")


def _decodable(pixels: int) -> int:
    """The pixels a decode may hold: none past MAX_IMAGE_PIXELS, which is refused from the header before decoding."""
    return pixels if 0 < pixels <= MAX_IMAGE_PIXELS else 0


def source_cost(source: str | ImageContent | None) -> int:
    """What loading a source may hold at once, in pixels: the header's pixels (only with Pillow, which is what decodes)
    plus the source's bytes as pixels. 0 for a path load_source refuses without reading it (missing, a symbolic link, a
    FIFO or another file that is not regular, too large), which is therefore never opened here, and for content that
    is not base64."""
    if isinstance(source, ImageContent):
        try:
            data = source.decoded()
        except SourceImageError:
            return 0
        size = header_size(io.BytesIO(data))
        pixels = _decodable(size[0] * size[1]) if size else 0
        return pixels + -(-len(data) // BYTES_PER_PIXEL)
    try:
        handle = open_source(source)
    except SourceImageError:
        return 0
    with handle:
        size = header_size(handle)
        file_bytes = os.fstat(handle.fileno()).st_size
    pixels = _decodable(size[0] * size[1]) if size else 0
    return pixels + -(-file_bytes // BYTES_PER_PIXEL)


def photo_cost(data: bytes | None, width: int, height: int) -> int:
    """The pixels a comparison decodes of a photo already read: from its own header when it is a JPEG or PNG (what
    the decode will find), else from the service's metadata (width x height)."""
    if data is None:
        return 0
    info = inspect_image(data)
    return _decodable(info.width * info.height if info is not None else width * height)


class PixelBudget:
    """Admits jobs by the pixels they will decode: together at most `limit`, first come first served; a job larger
    than the limit runs when nothing else holds any. run() does the admitted work on the budget's decoder threads."""

    def __init__(self, limit: int = DECODE_PIXEL_BUDGET, decoders: int = DECODER_THREADS) -> None:
        self.limit = limit
        self.in_use = 0
        self._turns: collections.deque = collections.deque()
        self._changed = threading.Condition()
        # Threads start only when work waits and none is idle, and stop when the budget is gone.
        self._decoders = concurrent.futures.ThreadPoolExecutor(decoders, thread_name_prefix="pixel-budget")

    def run(self, cost: int, work: Callable[[], Result]) -> Result:
        """work() on a decoder thread once cost fits: its result, or the exception it raised; the budget is given back
        either way."""
        with self.held(cost):
            return self._decoders.submit(work).result()

    @property
    def waiting(self) -> int:
        """How many jobs wait for their turn."""
        with self._changed:
            return len(self._turns)

    @contextlib.contextmanager
    def held(self, cost: int) -> Iterator[None]:
        """Waits until cost fits, holds it for the block, and gives it back however the block ends."""
        self._acquire(cost)
        try:
            yield
        finally:
            self._release(cost)

    def _fits(self, cost: int) -> bool:
        return self.in_use == 0 or self.in_use + cost <= self.limit

    def _acquire(self, cost: int) -> None:
        if cost <= 0:
            return  # decodes nothing: no reason to wait
        turn = object()
        with self._changed:
            self._turns.append(turn)
            try:
                while self._turns[0] is not turn or not self._fits(cost):
                    self._changed.wait()
            finally:
                self._turns.remove(turn)
                self._changed.notify_all()  # the next in line may fit too, or may be first now
            self.in_use += cost

    def _release(self, cost: int) -> None:
        if cost <= 0:
            return
        with self._changed:
            self.in_use -= cost
            self._changed.notify_all()
