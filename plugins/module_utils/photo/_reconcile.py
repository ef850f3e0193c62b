# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""The one place that decides: compare the wanted photo with the current one, then write or not.

ensure_present / ensure_absent return (changed, result, diff). In check mode nothing is written and
changed is what a real run would report. The single-user module and the bulk engine both use them.
"""

from __future__ import annotations

import hashlib
import time

from ._files import save_backup
from ._compare import DEFAULT_PIXEL_TOLERANCE, compare_photos
from ..common._errors import PhotoDisagreementError, WrittenThenFailedError
from ._propagation import WaitTimeoutError, wait_until


class PhotoPolicy:
    """How to decide and what to do around a write; one object per task."""

    def __init__(self, compare="auto", pixel_tolerance=DEFAULT_PIXEL_TOLERANCE, only_if_missing=False,
                 backup_dir=None, wait=False, wait_timeout=60, warn=None, sleep=time.sleep, clock=time.monotonic,
                 read_after_write=True):
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


def _sha256(data):
    return hashlib.sha256(data).hexdigest() if data is not None else None


def _diff_side(sha256, photo):
    if photo is None:
        return dict(has_photo=False, sha256=None, width=None, height=None)
    return dict(has_photo=True, sha256=sha256, width=photo.get("width"), height=photo.get("height"))


def _result(user, photo, sha256, previous_sha256, comparison=None, backup_file=None):
    return dict(user=user if user is not None else "me", photo=photo, sha256=sha256, previous_sha256=previous_sha256,
                comparison=comparison, backup_file=backup_file)


def disagreement(user, metadata):
    """The error for a photo the metadata lists but whose content the service says it does not have."""
    size = "%sx%s" % (metadata.width, metadata.height) if metadata is not None else "a"
    return PhotoDisagreementError(
        "The service lists a %s photo for %s, but answered 'no photo' for its content twice. This is not taken as "
        "'no photo' (that would replace or keep a photo on a guess): try again later." % (size, user or "me"))


def read_current(client, user):
    """(metadata, bytes) of the current photo; (None, None) when there is none."""
    current = client.get_metadata(user)
    if current is None:
        return None, None
    data = client.get_content(user)
    if data is None:
        # Metadata and content disagree: ask once more (a moment of propagation), then it is an error.
        data = client.get_content(user)
    if data is None:
        raise disagreement(user, current)
    return current, data


def _after_write(what, step, backup_file=None):
    """Runs step() after a successful write; any failure of it still reports the write (changed=true)."""
    try:
        return step()
    except WaitTimeoutError as exc:
        exc.details.update(changed=True, backup_file=backup_file)  # already says the write was accepted
        raise
    except Exception as exc:  # pylint: disable=broad-exception-caught
        raise WrittenThenFailedError(what, exc, backup_file=backup_file) from None


def _await_new_photo(client, user, previous, previous_sha256, policy):
    def probe():
        meta = client.get_metadata(user)
        if meta is None:
            return None
        if previous is None:
            return meta
        if meta.etag and previous.etag:
            return meta if meta.etag != previous.etag else None
        return meta if _sha256(client.get_content(user)) != previous_sha256 else None
    return wait_until(probe, policy.wait_timeout, "Photo of %s" % (user or "me"), sleep=policy.sleep, clock=policy.clock)


def ensure_present(client, user, source, check_mode, policy=None):
    """Upload source unless the user's current photo already shows it (by the policy's compare mode)."""
    policy = policy or PhotoPolicy()
    if policy.only_if_missing:
        existing = client.get_metadata(user)
        if existing is not None:
            # The user has a photo and it stays, so there is nothing to download.
            photo = existing.to_dict()
            side = _diff_side(None, photo)
            result = _result(user, photo, source.sha256, None, comparison=dict(method="only_if_missing", distance=None))
            return False, result, dict(before=side, after=dict(side))
        current, current_bytes = None, None
    else:
        current, current_bytes = read_current(client, user)

    previous_sha256 = _sha256(current_bytes)
    verdict = compare_photos(source.data, source.sha256, current_bytes, previous_sha256, policy.compare, policy.pixel_tolerance)
    comparison = dict(method=verdict.method, distance=verdict.distance)
    before_photo = current.to_dict() if current is not None else None

    if verdict.same:
        result = _result(user, before_photo, source.sha256, previous_sha256, comparison)
        side = _diff_side(previous_sha256, before_photo)
        return False, result, dict(before=side, after=dict(side))

    if policy.compare == "auto" and verdict.method == "sha256" and current_bytes is not None:
        policy.warn("Pillow is not installed, so compare=auto could only compare bytes. The service re-encodes stored "
                    "photos, so this upload may repeat on every run: install Pillow, or use only_if_missing.")

    backup_file = None
    if check_mode:
        after_photo = source.predicted_metadata()
    else:
        if policy.backup_dir and current_bytes is not None:
            backup_file = save_backup(policy.backup_dir, user, current_bytes)
        client.put_content(user, source.data, source.content_type)

        def read_back():
            if policy.wait:
                return _await_new_photo(client, user, current, previous_sha256, policy)
            return client.get_metadata(user) if policy.read_after_write else None
        after = _after_write("The upload of the photo of %s" % (user or "me"), read_back, backup_file)
        after_photo = after.to_dict() if after is not None else source.predicted_metadata()

    result = _result(user, after_photo, source.sha256, previous_sha256, comparison, backup_file)
    diff = dict(before=_diff_side(previous_sha256, before_photo), after=_diff_side(source.sha256, after_photo))
    return True, result, diff


def ensure_absent(client, user, check_mode, policy=None):
    """Remove the user's photo if there is one, saving it first when backup_dir is set."""
    policy = policy or PhotoPolicy()
    current, current_bytes = read_current(client, user)
    if current is None:
        side = _diff_side(None, None)
        return False, _result(user, None, None, None), dict(before=side, after=dict(side))

    previous_sha256 = _sha256(current_bytes)
    backup_file = None
    if not check_mode:
        if policy.backup_dir:
            backup_file = save_backup(policy.backup_dir, user, current_bytes)
        client.delete_content(user)
        if policy.wait:
            _after_write("The removal of the photo of %s" % (user or "me"), lambda: wait_until(
                lambda: True if client.get_metadata(user) is None else None, policy.wait_timeout,
                "Removal of the photo of %s" % (user or "me"), sleep=policy.sleep, clock=policy.clock), backup_file)
    result = _result(user, None, None, previous_sha256, backup_file=backup_file)
    diff = dict(before=_diff_side(previous_sha256, current.to_dict()), after=_diff_side(None, None))
    return True, result, diff
