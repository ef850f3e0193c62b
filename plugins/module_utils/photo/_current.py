# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""The user's current photo as data, and the one rule for metadata that lists a photo whose content is "none".

Reconcile decides on a CurrentPhoto: read through the client for one user, or built by the many-user code
from what it read in a $batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Mapping

from ..common._errors import OutlookError, PhotoDisagreementError
from ..common._users import shown_user

if TYPE_CHECKING:
    from ..graph._answers import PhotoMetadata
    from ..graph._photo_client import PhotoClient


class CurrentPhoto:
    """What the service holds for one user: metadata (None: no photo) and the photo's bytes.

    data None while metadata is set means the content was not read, or answered "no photo" once: whoever needs
    the bytes asks once more (content_after_no_photo) before taking it as an error.
    """

    __slots__ = ("metadata", "data")

    def __init__(self, metadata: PhotoMetadata | None, data: bytes | None = None) -> None:
        self.metadata = metadata
        self.data = data

    @property
    def exists(self) -> bool:
        return self.metadata is not None


def disagreement(user: str | None, metadata: PhotoMetadata | None) -> PhotoDisagreementError:
    """The error for a photo the metadata lists but whose content the service says it does not have."""
    size = "%sx%s" % (metadata.width, metadata.height) if metadata is not None else "a"
    return PhotoDisagreementError(
        "The service lists a %s photo for %s, but answered 'no photo' for its content twice. This is not taken as "
        "'no photo' (that would replace or keep a photo on a guess): try again later." % (size, shown_user(user)))


def content_after_no_photo(client: PhotoClient, user: str | None, metadata: PhotoMetadata) -> bytes:
    """The content once more, after it answered "no photo" although the metadata lists a photo.

    A moment of propagation can cause that; a second "no photo" is a PhotoDisagreementError, never "no photo".
    """
    data = client.get_content(user)
    if data is None:
        raise disagreement(user, metadata)
    return data


def read_metadata(client: PhotoClient, user: str | None, current: CurrentPhoto | None = None) -> PhotoMetadata | None:
    """The current photo's metadata: from current when given, else read through the client."""
    return client.get_metadata(user) if current is None else current.metadata


def with_content(client: PhotoClient, user: str | None, current: CurrentPhoto | None = None) -> CurrentPhoto:
    """The current photo with its bytes (both None when there is none).

    Without current, metadata then content are read through the client; with it, the client is asked only when
    its content answered "no photo" although its metadata lists a photo.
    """
    metadata = read_metadata(client, user, current)
    if metadata is None:
        return CurrentPhoto(None)
    data = client.get_content(user) if current is None else current.data
    if data is None:
        data = content_after_no_photo(client, user, metadata)
    return CurrentPhoto(metadata, data)


def recheck_no_content(client: PhotoClient, users: Iterable[str], metadata: Mapping[str, PhotoMetadata | OutlookError | None],
                       content: dict[str, bytes | OutlookError | None]) -> dict[str, bytes | OutlookError | None]:
    """content_after_no_photo for each user of a batch read whose content came back as "no photo".

    content maps user -> bytes | None | OutlookError and is updated in place: such a user gets the bytes of the
    second answer, or its error (a PhotoDisagreementError when it says "no photo" again). Returns content.
    """
    for user in users:
        if content.get(user, False) is None:
            try:
                content[user] = content_after_no_photo(client, user, metadata[user])
            except OutlookError as exc:
                content[user] = exc
    return content
