# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""The one place that decides: compare the wanted photo with the current one, then write or not.

ensure_present / ensure_absent return (changed, result, diff). In check mode nothing is written and
changed is what a real run would report.
"""

from __future__ import annotations

import hashlib


def _sha256(data):
    return hashlib.sha256(data).hexdigest() if data is not None else None


def _diff_side(sha256, photo):
    if photo is None:
        return dict(has_photo=False, sha256=None, width=None, height=None)
    return dict(has_photo=True, sha256=sha256, width=photo.get("width"), height=photo.get("height"))


def _result(user, photo, sha256, previous_sha256):
    return dict(user=user if user is not None else "me", photo=photo, sha256=sha256, previous_sha256=previous_sha256)


def ensure_present(client, user, source, check_mode):
    """Upload source unless the user's current photo already is exactly these bytes."""
    current = client.get_metadata(user)
    current_bytes = client.get_content(user) if current is not None else None
    if current_bytes is None:
        current = None
    previous_sha256 = _sha256(current_bytes)
    before_photo = current.to_dict() if current is not None else None

    if previous_sha256 == source.sha256:
        result = _result(user, before_photo, source.sha256, previous_sha256)
        side = _diff_side(previous_sha256, before_photo)
        return False, result, dict(before=side, after=dict(side))

    if check_mode:
        after_photo = source.predicted_metadata()
    else:
        client.put_content(user, source.data, source.content_type)
        after = client.get_metadata(user)
        after_photo = after.to_dict() if after is not None else source.predicted_metadata()

    result = _result(user, after_photo, source.sha256, previous_sha256)
    diff = dict(before=_diff_side(previous_sha256, before_photo), after=_diff_side(source.sha256, after_photo))
    return True, result, diff


def ensure_absent(client, user, check_mode):
    """Remove the user's photo if there is one."""
    current = client.get_metadata(user)
    current_bytes = client.get_content(user) if current is not None else None
    if current_bytes is None:
        side = _diff_side(None, None)
        return False, _result(user, None, None, None), dict(before=side, after=dict(side))

    previous_sha256 = _sha256(current_bytes)
    if not check_mode:
        client.delete_content(user)
    result = _result(user, None, None, previous_sha256)
    diff = dict(before=_diff_side(previous_sha256, current.to_dict()), after=_diff_side(None, None))
    return True, result, diff
