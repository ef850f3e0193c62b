# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Many users in one task: chunks of 20 users, read with two $batch calls, decided by the same reconcile
code as the single-user module; each upload or removal is its own request, sent in parallel. With a state file
(_state_file), a user whose trusted record names the same source bytes and the photo the metadata describes now
is not downloaded at all (_photo_trust). A task that names users both by object id and by UPN has its UPNs resolved
first, so that one user is never named twice (_same_user).

Memory stays bounded: at most 2 x `parallelism` chunks are held, each with at most 20 current photos (read in
$batch groups capped by pixels and by expected bytes), and all writers decode within one pixel budget per run
(photo/_pixel_budget.py): reading, decoding and converting a source and a pixel comparison wait for room in it and
run on its few threads, so the images decoded at once do not grow with `max_parallelism`. Uploads run outside it.
"""

from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Optional

from ..common._errors import GraphError, OutlookError, as_outlook_error
from ..common._users import shown_user
from ..photo._content import ImageContent
from ..photo._source import load_source, source_sha256
from ..graph._photo_client import UserNotFoundError
from ..photo._current import CurrentPhoto, recheck_no_content
from ..photo._compare import may_decode
from ..photo._pixel_budget import PixelBudget, photo_cost, source_cost
from ..photo._compare import Verdict, compare_photos
from ..photo._reconcile import PresentDecision, decide_present, ensure_absent, kept_unread, write_present
from . import _defaults
from ._defaults import CONFIRM, HOLDS, OWN, REPLACE, confirmable, default_record, default_step
from ._photo_trust import PhotoTrust
from ._run_deadline import RunDeadline
from ._same_user import Resolution, check_owner, mark_named_twice, named_in_several_forms, owner_id, resolve, unresolved_warning

if TYPE_CHECKING:
    from ..graph._answers import PhotoMetadata
    from ..photo._image import SourceImage
    from ..graph._photo_client import PhotoClient
    from ..photo._reconcile import PhotoPolicy
    from ._defaults import DefaultPhoto
    from ._state_file import StateFile

CHUNK = 20
ACTIONS = ("uploaded", "removed", "unchanged", "skipped", "failed", "not_attempted")
# Which per-user entries a task returns: all of them, or only those worth reading in a large tenant.
KEEP = {
    "all": lambda entry: True,
    "changed": lambda entry: entry["changed"] or entry["action"] in ("uploaded", "removed", "failed", "not_attempted"),
    "failed": lambda entry: entry["action"] in ("failed", "not_attempted"),
}

# Current photos fetched in one $batch: at most this many pixels (20 photos of 648x648, as Exchange stores
# them). Larger photos come in smaller groups, so one chunk never holds more than ~10 MB of images.
BATCH_PIXEL_BUDGET = 20 * 648 * 648
# ... and at most this many expected bytes, so that one $batch answer (base64: a third more) stays near 85 MiB, well
# under the 128 MiB the transport accepts. Metadata gives no size: a photo is expected to take at most 4 bytes a
# pixel (raw RGBA; a stored JPEG takes far less). With the pixel budget above that is 34 MB for a full group; this
# cap is what holds if either figure changes. A photo over either budget travels alone.
BATCH_BYTE_BUDGET = 64 * 1024 * 1024
EXPECTED_BYTES_PER_PIXEL = 4


class Vouched:
    """In a chunk's content: the state file vouches that this user's photo already shows the source, so it was not
    downloaded (a trusted record of the same source file, and the photo described as it was when compared)."""

    __slots__ = ()


VOUCHED = Vouched()


class Job:
    """What one user should end up with."""

    __slots__ = ("user", "state", "src", "problem", "named", "default", "superseded")

    def __init__(self, user: Any, state: str = "present", src: Any = None, problem: OutlookError | None = None,
                 named: Any = None, default: bool = False) -> None:
        self.user = user  # a user key, or a group's graph._owners.Owner once the sync resolved it
        self.state = state
        self.src = src  # a path, or a photo._content.ImageContent
        self.problem = problem  # an input error found while planning: reported as failed, never sent
        self.named = named  # a group entry: how the task named it ({group, endpoint}); None for a user
        self.default = default  # selected for the default photo (all_users, default_users): set only if the user has none
        self.superseded = None  # a default job of a user who has an entry of their own: why it is skipped

    @property
    def shown_src(self) -> str | None:
        """The source as results and messages show it: the path, or "content" (never the base64 text)."""
        return "content" if isinstance(self.src, ImageContent) else self.src

    @property
    def kind(self) -> str:
        return "user" if self.named is None else "group"

    @property
    def label(self) -> str:
        """How messages name this entry: "user <key>", or "group <key as given>"."""
        return "user %s" % shown_user(self.user) if self.named is None else "group %s" % self.named["group"]

    def describe(self, entry: dict[str, Any]) -> dict[str, Any]:
        """entry with the keys that say whose photo it is: kind, and for a group the group as named, its id and endpoint."""
        entry["kind"] = self.kind
        entry["default"] = self.default
        if self.named is None:  # every entry has every key, so that filters work on both kinds
            entry.update(group=None, group_id=None, endpoint=None)
        else:
            entry.update(user=None, group=self.named["group"], group_id=getattr(self.user, "key", None), endpoint=self.named["endpoint"])
        return entry


def stops_run(error: OutlookError) -> bool:
    """Whether this error means no other user can succeed either: the run stops instead of failing everyone slowly."""
    # 401 after the transport already fetched a new token once: the credentials themselves are refused.
    return getattr(error, "stops_run", False) or (isinstance(error, GraphError) and error.status == 401)


def map_chunks(items: list[Any], work: Callable[[list[Any]], list[Any]], parallelism: int) -> list[Any]:
    """work(chunk) -> list for each chunk of CHUNK items, `parallelism` chunks at a time; results in input order."""
    chunks = [items[start:start + CHUNK] for start in range(0, len(items), CHUNK)]
    results = []
    if parallelism <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            results.extend(work(chunk))
        return results
    with concurrent.futures.ThreadPoolExecutor(max_workers=parallelism) as pool:
        for chunk_results in pool.map(work, chunks):
            results.extend(chunk_results)
    return results


def _release_when_done(futures: list[concurrent.futures.Future], semaphore: threading.BoundedSemaphore) -> None:
    """Releases the semaphore once every future has finished."""
    remaining = [len(futures)]
    lock = threading.Lock()

    def finished(_future):
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last:
            semaphore.release()

    if not futures:
        semaphore.release()
    for future in futures:
        future.add_done_callback(finished)


def content_groups(users: Iterable[str], metadata: Mapping[str, PhotoMetadata | OutlookError | None]) -> Iterator[list[str]]:
    """Split the users whose photo must be read into groups under the pixel budget and the byte budget."""
    group, pixels = [], 0
    for user in users:
        cost = _pixels(metadata[user])
        if group and (pixels + cost > BATCH_PIXEL_BUDGET or (pixels + cost) * EXPECTED_BYTES_PER_PIXEL > BATCH_BYTE_BUDGET):
            yield group
            group, pixels = [], 0
        group.append(user)
        pixels += cost
    if group:
        yield group


def _pixels(metadata: PhotoMetadata | None) -> int:
    if metadata is None or not metadata.width or not metadata.height:
        return 0
    return metadata.width * metadata.height


def _describe(action: str, result: dict[str, Any], check_mode: bool) -> str:
    photo = result.get("photo") or {}
    size = "%sx%s" % (photo.get("width"), photo.get("height")) if photo else ""
    comparison = result.get("comparison") or {}
    prefix = "would be " if check_mode else ""
    if action == "uploaded":
        verb = "replaced" if result.get("previous_sha256") else "set"
        text = "%s%s: %s %s" % (prefix, verb, size, photo.get("content_type") or "")
        if result.get("conversion"):
            text += " (converted: %s)" % result["conversion"]
        return text.strip()
    if action == "removed":
        return prefix + "removed"
    if action == "skipped":
        return "kept the user's own photo (only_if_missing)"
    if result.get("photo") is None:
        return "no photo, as wanted"
    if comparison.get("method") == "state_file":
        return "same photo (state file: same source file and etag as when last compared; not downloaded)"
    if comparison.get("method") == "pixels":
        return "same photo (pixels, distance %s)" % comparison.get("distance")
    return "same photo (identical bytes)"


def _blank_entry(job: Job) -> dict[str, Any]:
    # Every entry has every key, so filters such as selectattr('backup_file') work on failed entries too.
    return dict(user=shown_user(job.user), src=job.src if isinstance(job.src, str) else None, state=job.state, photo=None, sha256=None, previous_sha256=None,
                comparison=None, backup_file=None, conversion=None)


class RunStop:
    """The first error that stops a many-user run; later jobs see it and are reported as not attempted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.error = None
        self.user = None

    def record(self, error: OutlookError, user: str | None) -> None:
        with self._lock:
            if self.error is None:
                self.error, self.user = error, user

    @property
    def stopped(self) -> bool:
        return self.error is not None

    def not_attempted(self, job: Job) -> dict[str, Any]:
        entry = _blank_entry(job)
        if self.user is None:  # no user's error: run_timeout
            message = "not attempted: %s" % self.error.msg
        else:
            message = "not attempted: the run stopped at %s (%s)" % (self.user, self.error.msg)
        entry.update(action="not_attempted", changed=False, message=message)
        return entry

    def check_deadline(self, deadline: RunDeadline) -> bool:
        """True (and the run stopped) once the deadline passed; the first error recorded stays the run's."""
        if deadline.passed:
            self.record(deadline.error(), None)
        return self.stopped


class BulkEngine:
    """Runs jobs through reconcile with shared connection, policy and limits.

    Containment: whatever goes wrong for one user (a typed error, a malformed answer, a Pillow surprise, a bug)
    becomes that user's failed entry. Errors that no other user can escape either (credentials refused, service
    unreachable after every retry) stop the run: the users not reached yet are reported as not_attempted, and what
    was done is still returned.
    """

    def __init__(self, client: PhotoClient, policy: PhotoPolicy, check_mode: bool = False, convert: bool = True, parallelism: int = 8,
                 want_diff: bool = False, keep: Callable[[dict[str, Any]], bool] | None = None,
                 max_parallelism: int | None = None, state_file: StateFile | None = None,
                 deadline: RunDeadline | None = None, pixel_budget: PixelBudget | None = None,
                 trust: PhotoTrust | None = None, default: DefaultPhoto | None = None, known_ids: Mapping[str, str] | None = None,
                 sleep: Callable[[float], None] = time.sleep, confirm_wait: float | None = None) -> None:
        self.client = client
        # run_timeout: past it, no chunk is read and no user's work starts.
        self.deadline = deadline or RunDeadline(None)
        self.policy = policy
        self.check_mode = check_mode
        self.convert = convert
        self.parallelism = max(1, int(parallelism))
        # Writers: as many as the gate may grow to (it decides how many run at once); readers stay at parallelism.
        self.max_parallelism = max(self.parallelism, int(max_parallelism or 0))
        self.want_diff = want_diff
        # Which entries to keep for the result; the summary always counts every user.
        self.keep = keep or (lambda entry: True)
        self.summary = summarize([])
        self.failed_users = []
        self.not_attempted_users = []
        self.failed_groups = []
        self.not_attempted_groups = []
        self.written = 0
        self.stop = RunStop()
        self.seconds = 0.0
        self._warned = False
        self._warned_lock = threading.Lock()
        # Records of earlier runs (state_file): a user whose record still holds is not downloaded. Kept up to date here.
        self.state_file = state_file
        self.trust = trust or PhotoTrust()
        # Object ids of the keys of a task that names users in several forms, and the metadata read to learn them.
        self.resolution = Resolution()
        self.download_stats = dict(state_file_hits=0, photos_downloaded=0, bytes_downloaded=0)
        self._download_lock = threading.Lock()
        # One budget for every writer's decoding: what is decoded at once does not grow with max_parallelism.
        self.pixels = pixel_budget or PixelBudget()
        # The default photo of the jobs selected for it, and the object ids the user listing gave their UPNs.
        self.default = default
        self.known_ids = dict(known_ids or {})
        self.sleep = sleep
        self.confirm_wait = confirm_wait
        # Defaults written this run, as (job, state-file key, metadata before the write): read back at the end (confirm).
        self._default_writes = []
        self._default_lock = threading.Lock()
        if default is not None:  # only then: a 1.0.0 playbook may compare the whole summary
            self.summary["defaulted"] = 0
            self.download_stats["defaults_confirmed"] = 0

    def run(self, jobs: list[Job]) -> list[dict[str, Any]]:
        """The result dicts of the jobs that `keep` selects, in input order; counts go to self.summary.

        Reader threads fetch chunks (2 batch requests per 20 users); each user's decision and write then
        runs on a writer pool, so a chunk's uploads go out in parallel and the next chunk is read meanwhile.
        The transport's gate decides how many requests are in flight (from `parallelism`, growing up to
        `max_parallelism` while the service keeps up); at most 2 x parallelism chunks are held at once, so memory
        does not grow with the number of users.
        """
        started = time.monotonic()
        self._one_entry_per_user(jobs)
        chunks = [jobs[start:start + CHUNK] for start in range(0, len(jobs), CHUNK)]
        held = threading.BoundedSemaphore(self.parallelism * 2)
        results = []
        with concurrent.futures.ThreadPoolExecutor(self.parallelism) as readers, \
                concurrent.futures.ThreadPoolExecutor(self.max_parallelism) as writers:

            def read_then_dispatch(chunk):
                held.acquire()
                try:
                    metadata, content, served_etags = self._read_chunk(chunk)
                    futures = [writers.submit(self._run_job, job, metadata, content, served_etags) for job in chunk]
                except BaseException:
                    held.release()
                    raise
                _release_when_done(futures, held)
                return futures

            # A deque, consumed from the left: a finished chunk's entries are dropped as soon as they are counted.
            pending = collections.deque((chunk, readers.submit(read_then_dispatch, chunk)) for chunk in chunks)
            while pending:
                chunk, future = pending.popleft()
                for entry in self._chunk_entries(chunk, future):
                    self._count(entry)
                    if self.keep(entry):
                        results.append(entry)
        self._confirm_defaults()
        self.seconds = round(time.monotonic() - started, 3)
        return results

    def _one_entry_per_user(self, jobs: list[Job]) -> None:
        """When the task names users in several forms: resolves the keys to object ids and fails both entries of a user
        named twice, before any photo is written."""
        if not named_in_several_forms(jobs) or self.stop.check_deadline(self.deadline):
            return
        try:
            self.resolution = resolve(self.client, jobs, lambda users, work: map_chunks(users, work, self.parallelism),
                                      known=self.known_ids)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            error = as_outlook_error(exc, "resolving the object ids of the users named by UPN")
            if stops_run(error):
                self.stop.record(error, None)
                return
            self.resolution = Resolution()
            self.resolution.unresolved.append(("(all)", error.msg))
        mark_named_twice(jobs, self.resolution.ids)
        warning = unresolved_warning(self.resolution.unresolved)
        if warning:
            self.policy.warn(warning)

    def _chunk_entries(self, chunk: list[Job], future: concurrent.futures.Future) -> list[dict[str, Any]]:
        """The chunk's entries; a worker that raised anyway (a bug here) fails its users, not the run."""
        try:
            futures = future.result()
        except Exception as exc:  # pylint: disable=broad-exception-caught
            return [job.describe(self._failed(job, as_outlook_error(exc, "handling %s" % shown_user(job.user)))) for job in chunk]
        entries = []
        for job, job_future in zip(chunk, futures):
            try:
                entries.append(job.describe(job_future.result()))
            except Exception as exc:  # pylint: disable=broad-exception-caught
                entries.append(job.describe(self._failed(job, as_outlook_error(exc, "handling %s" % shown_user(job.user)))))
        return entries

    def _count(self, entry: dict[str, Any]) -> None:
        self.summary["total"] += 1
        self.summary[entry["action"]] += 1
        if entry.get("default") and entry["action"] == "uploaded":
            self.summary["defaulted"] += 1
        if entry["changed"]:
            self.written += 1
        # Groups go into lists of their own, by the name the task gave them: failed_users keeps naming users only.
        name = entry["user"] if entry.get("kind") != "group" else entry["group"]
        if entry["action"] == "failed":
            (self.failed_users if entry.get("kind") != "group" else self.failed_groups).append(name)
        elif entry["action"] == "not_attempted":
            (self.not_attempted_users if entry.get("kind") != "group" else self.not_attempted_groups).append(name)

    def _read_chunk(self, chunk: list[Job]) -> tuple[dict[str, PhotoMetadata | OutlookError | None], dict[str, bytes | OutlookError | None], dict[str, str]]:
        """(metadata, content, ETag headers of the content answers) for a chunk's users; a failed read becomes every
        user's error."""
        live = [job.user for job in chunk if job.problem is None and not job.superseded]
        if self.stop.check_deadline(self.deadline) or not live:
            return {}, {}, {}
        try:
            metadata = self._metadata(live)
            # Download only photos that can change the decision: none when the user has no photo, none when
            # only_if_missing keeps an existing photo anyway.
            wanted_states = {job.user: job.state for job in chunk}
            vouched = self._vouched(chunk, metadata)
            unread = vouched | self._defaults_unread(chunk, metadata)
            readers = [user for user in live
                       if metadata.get(user) is not None and not isinstance(metadata[user], OutlookError)
                       and not (wanted_states[user] == "present" and self.policy.only_if_missing) and user not in unread]
            content, served_etags = {}, {}
            for group in content_groups(readers, metadata):
                group_content, group_etags = self.client.read_content_many(group)
                content.update(group_content)
                served_etags.update(group_etags)
            recheck_no_content(self.client, readers, metadata, content)
            self._count_downloads(content, len(vouched))
            content.update(dict.fromkeys(vouched, VOUCHED))
        except Exception as exc:  # pylint: disable=broad-exception-caught
            error = as_outlook_error(exc, "reading the photos of %d users" % len(live))
            return {user: error for user in live}, {}, {}
        return metadata, content, served_etags

    def _metadata(self, users: list[str]) -> dict[str, PhotoMetadata | OutlookError | None]:
        """The users' photo metadata: what resolving the object ids read already, else read now; metadata that names
        another object than the id asked for is that user's MalformedAnswerError."""
        metadata = {user: self.resolution.take_metadata(user) for user in users if self.resolution.has_metadata(user)}
        unread = [user for user in users if user not in metadata]
        if unread:
            metadata.update(self.client.get_metadata_many(unread))
        return {user: check_owner(user, meta) for user, meta in metadata.items()}

    def _run_job(self, job: Job, metadata: Mapping[str, PhotoMetadata | OutlookError | None],
                 content: Mapping[str, bytes | OutlookError | None], served_etags: Mapping[str, str]) -> dict[str, Any]:
        if job.problem is None and self.stop.check_deadline(self.deadline):
            return self.stop.not_attempted(job)
        entry = _blank_entry(job)
        meta = None
        if job.superseded:
            entry.update(action="skipped", changed=False, message=job.superseded)
            return entry
        try:
            if job.problem:
                raise job.problem
            meta = metadata.get(job.user)
            if isinstance(meta, UserNotFoundError) and job.state == "absent":
                # A leaver whose account is already deleted has no photo left to remove.
                entry.update(action="skipped", changed=False, message="no such user: nothing to remove")
                return entry
            if isinstance(meta, OutlookError):
                raise meta
            data = content.get(job.user)
            if isinstance(data, OutlookError):
                raise data
            message = None
            if job.default:
                changed, result, diff, action, message = self._default_photo(job, meta, data, served_etags.get(job.user))
            elif data is VOUCHED:
                changed, result, diff = kept_unread(job.user, meta, "state_file")
                result["conversion"] = None
                action = "unchanged"
            elif job.state == "present":
                changed, result, diff, action = self._present(job, meta, data, served_etags.get(job.user))
            else:
                changed, result, diff = ensure_absent(self.client, job.user, self.check_mode, self.policy, current=CurrentPhoto(meta, data))
                result["conversion"] = None
                action = "removed" if changed else "unchanged"
                self._forget(job, meta)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            return self._failed(job, as_outlook_error(exc, "handling %s" % shown_user(job.user)), entry, meta)
        entry.update(result)
        entry.update(user=shown_user(job.user), action=action, changed=changed,
                     message=message or _describe(action, result, self.check_mode))
        if self.want_diff:
            entry["diff"] = diff
        return entry

    def _present(self, job: Job, meta: PhotoMetadata | None, data: bytes | None,
                 served_etag: str | None) -> tuple[bool, dict[str, Any], dict[str, Any], str]:
        """(changed, result, diff, action) for a user whose photo should be job.src."""
        # What the batch read; reconcile sends only writes and reads after a write to the client.
        current = CurrentPhoto(meta, data)
        # Reading, decoding and converting the source and a pixel comparison wait for room in the pixel budget and run
        # on its decoder threads; the upload goes out after it is released, so slow uploads do not hold it.
        source, decision = self.pixels.run(self._decode_cost(job, current), lambda: self._decide(job, current))
        changed, result, diff = write_present(self.client, job.user, source, self.check_mode, self.policy, decision)
        result["conversion"] = source.conversion
        skipped = (result.get("comparison") or {}).get("method") == "only_if_missing"
        action = "uploaded" if changed else ("skipped" if skipped else "unchanged")
        self._remember(job, action, result, source, current, served_etag)
        return changed, result, diff, action

    def _decide(self, job: Job, current: CurrentPhoto) -> tuple[SourceImage, PresentDecision]:
        """The source, loaded and checked, and the decision on it; nothing is written."""
        source = load_source(job.src, convert=self.convert, preparation=self.policy.preparation)
        self._warn_once(source.warning)
        return source, decide_present(self.client, job.user, source, self.policy, current=current)

    def _decode_cost(self, job: Job, current: CurrentPhoto) -> int:
        """The pixels _present may hold decoded, known before anything is decoded: the source's (from its header) and,
        when a pixel comparison may follow, the current photo's."""
        cost = source_cost(job.src)
        if current.metadata is not None and not self.policy.only_if_missing and may_decode(self.policy.compare, current.data):
            cost += photo_cost(current.data, current.metadata.width, current.metadata.height)
        return cost

    def _vouched(self, chunk: list[Job], metadata: Mapping[str, PhotoMetadata | OutlookError | None]) -> set[str]:
        """The users whose photo need not be downloaded: PhotoTrust.vouches for their record. Anything else is compared
        in full."""
        vouched = set()
        if self.state_file is None or self.policy.only_if_missing:
            return vouched
        for job in chunk:
            meta = metadata.get(job.user)
            if job.state != "present" or job.problem is not None or job.default or meta is None or isinstance(meta, OutlookError):
                continue
            key, record = self._record(job, meta)
            if record is not None and self.trust.vouches(key, record, source_sha256(job.src), meta):
                vouched.add(job.user)
        return vouched

    def _default_step(self, job: Job, meta: Any) -> str:
        """What a default job does (_defaults.default_step), from the record of the user and the metadata read now."""
        if self.state_file is None:
            return default_step(None, meta, None)
        dummy, record = self._record(job, meta)
        return default_step(record, meta, self.default.sha256 if self.default is not None else None)

    def _defaults_unread(self, chunk: list[Job], metadata: Mapping[str, Any]) -> set[str]:
        """The default jobs whose photo is not downloaded: all but those to confirm, and those to replace when the old
        photo is to be backed up."""
        unread = set()
        for job in chunk:
            if not job.default:
                continue
            step = self._default_step(job, metadata.get(job.user)) if job.problem is None else OWN
            if not (step == CONFIRM or (step == REPLACE and self.policy.backup_dir)):
                unread.add(job.user)
        return unread

    def _default_photo(self, job: Job, meta: Any, data: Any, served_etag: str | None) -> tuple[bool, dict[str, Any], dict[str, Any], str, str]:
        """(changed, result, diff, action, message) for a user selected for the default photo."""
        key, record = self._record(job, meta) if self.state_file is not None else (shown_user(job.user), None)
        step = self._default_step(job, meta)
        if meta is not None and (step == OWN or self.policy.only_if_missing):
            if record is not None and record.default and step == OWN and not self.check_mode:
                self.state_file.forget(key, shown_user(job.user))  # the user's own photo now: never touched again
            changed, result, diff = kept_unread(job.user, meta, "default")
            return changed, dict(result, conversion=None), diff, "skipped", "kept the user's own photo (the default is only for users without one)"
        if step == HOLDS:
            changed, result, diff = kept_unread(job.user, meta, "state_file")
            return (changed, dict(result, conversion=None), diff, "unchanged",
                    "holds the default (state file: same etag as when the default was set and read back; not downloaded)")
        source = self.pixels.run(source_cost(self.default.src), self.default.image)
        if step == CONFIRM:
            return self._confirm_one(job, key, meta, data, served_etag, source)
        current = CurrentPhoto(meta, data)
        previous_sha256 = hashlib.sha256(data).hexdigest() if isinstance(data, bytes) else None
        decision = PresentDecision(current, previous_sha256, Verdict(False, "default"))
        changed, result, diff = write_present(self.client, job.user, source, self.check_mode, self.policy, decision)
        result["conversion"] = source.conversion
        if not self.check_mode:
            if self.state_file is not None:
                self.state_file.remember(key, default_record(source.file_sha256), replaces=shown_user(job.user))
            with self._default_lock:
                self._default_writes.append((job, key, meta))
        photo = result.get("photo") or {}
        what = "set" if step != REPLACE else "replaced (the photo was still the earlier default)"
        return changed, result, diff, "uploaded", "default %s%s: %sx%s" % (
            "would be " if self.check_mode else "", what, photo.get("width"), photo.get("height"))

    def _confirm_one(self, job: Job, key: str, meta: Any, data: Any, served_etag: str | None,
                     source: SourceImage) -> tuple[bool, dict[str, Any], dict[str, Any], str, str]:
        """An earlier run set this default and could not read it back: the photo, downloaded, is compared once."""
        decision = self.pixels.run(self._decode_cost(job, CurrentPhoto(meta, data)), lambda: decide_present(
            self.client, job.user, source, self.policy, current=CurrentPhoto(meta, data)))
        if decision.verdict is not None and decision.verdict.same and (served_etag is None or served_etag == meta.etag):
            if not self.check_mode:
                self.state_file.remember(key, default_record(source.file_sha256, meta, hashlib.sha256(data).hexdigest(),
                                                             int(self.trust.clock())), replaces=shown_user(job.user))
            changed, result, diff = kept_unread(job.user, meta, (decision.verdict.method))
            return changed, dict(result, conversion=None), diff, "unchanged", "holds the default (read back and compared now)"
        if not self.check_mode:
            self.state_file.forget(key, shown_user(job.user))
        changed, result, diff = kept_unread(job.user, meta, "default")
        return (changed, dict(result, conversion=None), diff, "skipped",
                "kept the user's own photo (it is not the default an earlier run set)")

    def _confirm_defaults(self) -> None:
        """Reads back the defaults this run wrote, 20 per $batch, until the service shows them or confirm_wait passes:
        a photo whose pixels are the default's under a new etag makes the record trusted ("got the default with
        SHA-256 X at etag E"), so that a later change of the default can replace it without a download. Nothing here
        fails the run: the writes are done, and what is not confirmed stays pending (a later run compares it once)."""
        if not self._default_writes or self.state_file is None or self.stop.stopped:
            return
        source = self.default.image()
        waiting = {job.user: (job, key, before) for job, key, before in self._default_writes}
        give_up = time.monotonic() + (self.confirm_wait if self.confirm_wait is not None else _defaults.CONFIRM_WAIT_SECONDS)
        pause = 0.5
        while waiting and not self.deadline.passed:
            try:
                for found in map_chunks(list(waiting), lambda users: self._read_back_defaults(users, waiting, source), self.parallelism):
                    waiting.pop(found, None)
            except Exception:  # pylint: disable=broad-exception-caught
                return  # an error that stops the run (401, the service gone): what is not confirmed stays pending
            if not waiting or time.monotonic() + pause > give_up:
                return
            self.sleep(pause)
            pause = min(pause * 2, 4.0)

    def _read_back_defaults(self, users: list[str], waiting: Mapping[str, Any], source: SourceImage) -> list[str]:
        """The users of one chunk whose default the service now shows, each confirmed (trusted) or found to be another
        photo (left pending); the others are read again later."""
        metadata = self.client.get_metadata_many(users)
        shown = confirmable(metadata, {user: waiting[user][2] for user in users})
        if not shown:
            return []
        content, served_etags = {}, {}
        for group in content_groups(shown, metadata):  # under the same byte and pixel caps as the run's reads
            group_content, group_etags = self.client.read_content_many(group)
            content.update(group_content)
            served_etags.update(group_etags)
        self._count_downloads(content, 0)
        done = []
        for user in shown:
            job, key, dummy = waiting[user]
            data, meta = content.get(user), metadata[user]
            if not isinstance(data, bytes):
                continue
            done.append(user)
            cost = source_cost(self.default.src) + photo_cost(data, meta.width, meta.height)
            verdict = self.pixels.run(cost, lambda data=data: compare_photos(
                source.data, source.sha256, data, hashlib.sha256(data).hexdigest(), self.policy.compare, self.policy.pixel_tolerance))
            served = served_etags.get(user)
            if verdict.same and (served is None or served == meta.etag):
                self.state_file.remember(key, default_record(source.file_sha256, meta, hashlib.sha256(data).hexdigest(),
                                                             int(self.trust.clock())), replaces=shown_user(job.user))
                with self._download_lock:
                    self.download_stats["defaults_confirmed"] += 1
        return done

    def _record(self, job: Job, meta: Any) -> tuple[str, Any]:
        """(key, record) of a user: under the object id when known, else (or when none is there yet) under the user key."""
        named = shown_user(job.user)  # the state file keys on text: a user key, or a group's group:<id>
        found = owner_id(job.user, meta) or self.resolution.ids.get(named)
        record = self.state_file.record(found) if found else None
        if record is None:
            record = self.state_file.record(named)
        return found or named, record

    def _count_downloads(self, content: Mapping[str, Any], vouched: int) -> None:
        photos = [data for data in content.values() if isinstance(data, bytes)]
        with self._download_lock:
            self.download_stats["state_file_hits"] += vouched
            self.download_stats["photos_downloaded"] += len(photos)
            self.download_stats["bytes_downloaded"] += sum(len(data) for data in photos)

    def _remember(self, job: Job, action: str, result: Mapping[str, Any], source: Any, current: CurrentPhoto,
                  served_etag: str | None) -> None:
        """What this user's outcome proves, into the state file, keyed on the object id when known. After a comparison
        that found the photo the same: what PhotoTrust.after_comparison makes of the bytes compared and the ETag header
        that came with them. After an upload: the source's SHA-256 alone (the sync reads nothing back, and a read could
        still show the old photo). Nothing in check mode, nothing for only_if_missing's kept photos."""
        if self.state_file is None or self.check_mode or not source.file_sha256:
            return
        method = (result.get("comparison") or {}).get("method")
        key, previous = self._record(job, current.metadata)
        if action == "uploaded":
            self.state_file.remember(key, self.trust.after_upload(source.file_sha256), replaces=shown_user(job.user))
        elif action == "unchanged" and method in ("sha256", "pixels") and current.metadata is not None and current.data:
            record = self.trust.after_comparison(previous, source.file_sha256, current.metadata, current.data, served_etag)
            self.state_file.remember(key, record, replaces=shown_user(job.user))

    def _forget(self, job: Job, meta: Any = None) -> None:
        """A removed photo, or a user that failed: no record, so nothing unproven is ever trusted."""
        if self.state_file is not None and not self.check_mode:
            named = shown_user(job.user)
            self.state_file.forget(named, owner_id(job.user, meta) or self.resolution.ids.get(named))

    def _warn_once(self, warning: Optional[str]) -> None:
        """A source's warning (a PNG sent as PNG) has one run-wide cause: say it once, not once per user."""
        if warning is None:
            return
        with self._warned_lock:
            if self._warned:
                return
            self._warned = True
        self.policy.warn(warning + " The same holds for every PNG source of this run.")

    def _failed(self, job: Job, error: OutlookError, entry: dict[str, Any] | None = None, meta: Any = None) -> dict[str, Any]:
        if stops_run(error):
            self.stop.record(error, job.label)
        self._forget(job, meta)
        entry = entry or _blank_entry(job)
        # A write that happened before the failure (e.g. the read-back failed) still changed the photo.
        entry.update(action="failed", message=error.msg, changed=bool(error.details.get("changed")),
                     backup_file=error.details.get("backup_file", entry.get("backup_file")))
        return entry


def summarize(results: list[dict[str, Any]]) -> dict[str, int]:
    summary = dict((name, 0) for name in ("total",) + ACTIONS)
    summary["total"] = len(results)
    for entry in results:
        summary[entry["action"]] += 1
    return summary
