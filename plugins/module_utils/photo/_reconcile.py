# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""The one place that decides: compare the wanted photo with the current one, then write or not.

ensure_present / ensure_absent return (changed, result, diff). In check mode nothing is written and
changed is what a real run would report. The single-user module and the bulk engine both use them: the
module lets them read the current photo through the client, the engine passes a CurrentPhoto it read in a
$batch. Writes, and reads after a write (wait, read-back), always go through the client. ensure_present is
decide_present (read, compare) then write_present (upload), so a caller can bound the decoding of the first alone.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any, Callable

from ._files import save_backup
from ._compare import DEFAULT_PIXEL_TOLERANCE, compare_photos
from ._current import CurrentPhoto, read_metadata, with_content
from ..common._errors import WrittenThenFailedError
from ..common._users import shown_user
from ._prepare import AS_GIVEN, Preparation
from ._propagation import WaitTimeoutError, wait_until

if TYPE_CHECKING:
    from ._compare import Verdict
    from ._image import SourceImage
    from ..graph._answers import PhotoMetadata
    from ..graph._photo_client import PhotoClient


class PhotoPolicy:
    """How to decide and what to do around a write; one object per task."""

    def __init__(self, compare: str = "auto", pixel_tolerance: float = DEFAULT_PIXEL_TOLERANCE, only_if_missing: bool = False,
                 backup_dir: str | None = None, wait: bool = False, wait_timeout: float = 60, warn: Callable[[str], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 read_after_write: bool = True, preparation: Preparation = AS_GIVEN) -> None:
        self.compare = compare
        self.pixel_tolerance = pixel_tolerance
        self.only_if_missing = only_if_missing
        self.backup_dir = backup_dir
        self.wait = wait
        self.wait_timeout = wait_timeout
        self.warn = warn or (lambda message: None)
        self.sleep = sleep
        self.clock = clock
        # Read the service's metadata after an upload; bulk runs report the uploaded image instead (one request less).
        self.read_after_write = read_after_write
        # How the source becomes the photo that is compared and sent (crop, max_dimension, min_dimension).
        self.preparation = preparation


def _sha256(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None


def _diff_side(sha256: str | None, photo: dict[str, Any] | None) -> dict[str, Any]:
    if photo is None:
        return dict(has_photo=False, sha256=None, width=None, height=None)
    return dict(has_photo=True, sha256=sha256, width=photo.get("width"), height=photo.get("height"))


def _result(user: str | None, photo: dict[str, Any] | None, sha256: str | None, previous_sha256: str | None,
            comparison: dict[str, Any] | None = None, backup_file: str | None = None) -> dict[str, Any]:
    return dict(user=shown_user(user), photo=photo, sha256=sha256, previous_sha256=previous_sha256,
                comparison=comparison, backup_file=backup_file)


def _after_write(what: str, step: Callable[[], Any], backup_file: str | None = None) -> Any:
    """Runs step() after a successful write; any failure of it still reports the write (changed=true)."""
    try:
        return step()
    except WaitTimeoutError as exc:
        exc.details.update(changed=True, backup_file=backup_file)  # already says the write was accepted
        raise
    except Exception as exc:  # pylint: disable=broad-exception-caught
        raise WrittenThenFailedError(what, exc, backup_file=backup_file) from None


def _await_new_photo(client: PhotoClient, user: str | None, previous: PhotoMetadata | None, previous_sha256: str | None,
                     policy: PhotoPolicy) -> PhotoMetadata:
    def probe():
        meta = client.get_metadata(user)
        if meta is None:
            return None
        if previous is None:
            return meta
        if meta.etag and previous.etag:
            return meta if meta.etag != previous.etag else None
        return meta if _sha256(client.get_content(user)) != previous_sha256 else None
    return wait_until(probe, policy.wait_timeout, "Photo of %s" % shown_user(user), sleep=policy.sleep, clock=policy.clock)


def _read_back_once(client: PhotoClient, user: str | None, previous: PhotoMetadata | None) -> PhotoMetadata | None:
    """The photo's metadata straight after a write, or None while the service still shows the state before it (a read
    can lag a write: then the result describes the uploaded image instead of the previous photo)."""
    meta = client.get_metadata(user)
    if meta is None:
        return None
    if previous is not None and meta.etag and meta.etag == previous.etag:
        return None
    return meta


class PresentDecision:
    """What decide_present found, before any write: the current photo, its SHA-256 and the verdict; or, when
    only_if_missing keeps a photo already there, the finished outcome (kept)."""

    __slots__ = ("current", "previous_sha256", "verdict", "kept")

    def __init__(self, current: CurrentPhoto | None = None, previous_sha256: str | None = None, verdict: Verdict | None = None,
                 kept: tuple[bool, dict[str, Any], dict[str, Any]] | None = None) -> None:
        self.current = current
        self.previous_sha256 = previous_sha256
        self.verdict = verdict
        self.kept = kept


def ensure_present(client: PhotoClient, user: str | None, source: SourceImage, check_mode: bool, policy: PhotoPolicy | None = None,
                   current: CurrentPhoto | None = None) -> tuple[bool, dict[str, Any], dict[str, Any]]:
    """Upload source unless the user's current photo already shows it (by the policy's compare mode).

    current: the photo as already read (the many-user engine reads it in a $batch); None reads it through the client.
    The many-user engine calls the two halves itself, so that the decoding in decide_present is inside its pixel
    budget and the upload in write_present is not.
    """
    policy = policy or PhotoPolicy()
    return write_present(client, user, source, check_mode, policy, decide_present(client, user, source, policy, current))


def decide_present(client: PhotoClient, user: str | None, source: SourceImage, policy: PhotoPolicy,
                   current: CurrentPhoto | None = None) -> PresentDecision:
    """ensure_present up to the verdict: reads what current does not hold, compares (a pixel comparison decodes both
    images); writes nothing."""
    if policy.only_if_missing:
        existing = read_metadata(client, user, current)
        if existing is not None:
            # The user has a photo and it stays, so there is nothing to download.
            return PresentDecision(kept=_kept_existing(user, existing, source))
        current = CurrentPhoto(None)
    else:
        current = with_content(client, user, current)
    previous_sha256 = _sha256(current.data)
    verdict = compare_photos(source.data, source.sha256, current.data, previous_sha256, policy.compare, policy.pixel_tolerance)
    return PresentDecision(current, previous_sha256, verdict)


def write_present(client: PhotoClient, user: str | None, source: SourceImage, check_mode: bool, policy: PhotoPolicy,
                  decision: PresentDecision) -> tuple[bool, dict[str, Any], dict[str, Any]]:
    """ensure_present from the verdict on: nothing when the photo is the same, else the upload (not in check mode)."""
    if decision.kept is not None:
        return decision.kept
    current, previous_sha256, verdict = decision.current, decision.previous_sha256, decision.verdict
    comparison = dict(method=verdict.method, distance=verdict.distance)
    before_photo = current.metadata.to_dict() if current.exists else None

    if verdict.same:
        result = _result(user, before_photo, source.sha256, previous_sha256, comparison)
        side = _diff_side(previous_sha256, before_photo)
        return False, result, dict(before=side, after=dict(side))

    if policy.compare == "auto" and verdict.method == "sha256" and current.data is not None:
        policy.warn("Pillow is not installed, so compare=auto could only compare bytes. The service re-encodes stored "
                    "photos, so this upload may repeat on every run: install Pillow, or use only_if_missing.")

    if check_mode:
        after_photo, backup_file = source.predicted_metadata(), None
    else:
        after_photo, backup_file = _upload(client, user, source, current, previous_sha256, policy)

    result = _result(user, after_photo, source.sha256, previous_sha256, comparison, backup_file)
    diff = dict(before=_diff_side(previous_sha256, before_photo), after=_diff_side(source.sha256, after_photo))
    return True, result, diff


def _kept_existing(user: str | None, existing: PhotoMetadata, source: SourceImage) -> tuple[bool, dict[str, Any], dict[str, Any]]:
    """only_if_missing and the user has a photo: nothing changes."""
    return kept_unread(user, existing, "only_if_missing", source.sha256)


def kept_unread(user: str | None, existing: PhotoMetadata, method: str, sha256: str | None = None) -> tuple[bool, dict[str, Any], dict[str, Any]]:
    """The photo stays without being downloaded: only_if_missing keeps any photo, or a sync's state file vouches that
    it already shows the source (method "state_file"; the source is then not converted, so sha256 is None)."""
    photo = existing.to_dict()
    side = _diff_side(None, photo)
    result = _result(user, photo, sha256, None, comparison=dict(method=method, distance=None))
    return False, result, dict(before=side, after=dict(side))


def _upload(client: PhotoClient, user: str | None, source: SourceImage, current: CurrentPhoto, previous_sha256: str | None,
            policy: PhotoPolicy) -> tuple[dict[str, Any], str | None]:
    """Backs up the current photo if asked, uploads source, reads back; (photo after the write, backup file)."""
    backup_file = None
    if policy.backup_dir and current.data is not None:
        backup_file = save_backup(policy.backup_dir, user, current.data)
    client.put_content(user, source.data, source.content_type)

    def read_back():
        if policy.wait:
            return _await_new_photo(client, user, current.metadata, previous_sha256, policy)
        return _read_back_once(client, user, current.metadata) if policy.read_after_write else None
    after = _after_write("The upload of the photo of %s" % shown_user(user), read_back, backup_file)
    return (after.to_dict() if after is not None else source.predicted_metadata()), backup_file


def ensure_absent(client: PhotoClient, user: str | None, check_mode: bool, policy: PhotoPolicy | None = None,
                  current: CurrentPhoto | None = None) -> tuple[bool, dict[str, Any], dict[str, Any]]:
    """Remove the user's photo if there is one, saving it first when backup_dir is set.

    current: the photo as already read, with its bytes; None reads it through the client.
    """
    policy = policy or PhotoPolicy()
    current = with_content(client, user, current)
    if not current.exists:
        side = _diff_side(None, None)
        return False, _result(user, None, None, None), dict(before=side, after=dict(side))

    previous_sha256 = _sha256(current.data)
    backup_file = None
    if not check_mode:
        if policy.backup_dir:
            backup_file = save_backup(policy.backup_dir, user, current.data)
        client.delete_content(user)
        if policy.wait:
            _after_write("The removal of the photo of %s" % shown_user(user), lambda: wait_until(
                lambda: True if client.get_metadata(user) is None else None, policy.wait_timeout,
                "Removal of the photo of %s" % shown_user(user), sleep=policy.sleep, clock=policy.clock), backup_file)
    result = _result(user, None, None, previous_sha256, backup_file=backup_file)
    diff = dict(before=_diff_side(previous_sha256, current.metadata.to_dict()), after=_diff_side(None, None))
    return True, result, diff
