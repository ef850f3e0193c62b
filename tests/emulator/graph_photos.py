# SPDX-License-Identifier: GPL-3.0-or-later
"""The photo operations (photo, photo/$value, photos, photos/{size}[/$value]) on a user, a group or a Team, in Graph's
and in Outlook REST v2.0's shape. A routed, authorised call (graph.py's _Call) comes in; the answer goes out."""

from __future__ import annotations

import re

from . import images
from .directory import Photo
from .graph_errors import NO_MAILBOX_MESSAGES, NO_PHOTO_MESSAGES, graph_error
from .graph_routes import GRAPH, OUTLOOK, USER
from .wire import Response

MAX_PHOTO_BYTES = 4 * 1024 * 1024
# no_mailbox "entra": a user without an Exchange Online mailbox keeps the photo in Entra ID, where a write of more than
# this many bytes answers a 404 and stores nothing. ASSUMPTION: AD thumbnailPhoto's Range-Upper (102,400 bytes), the
# "near 100 KB" of microsoft-graph-docs#8236 (2020), whose thread gives no error code: the 404 carries ENTRA_TOO_LARGE,
# the code reported for other photo PUT 404s (graph-photo-api.md section 8).
ENTRA_PHOTO_MAX_BYTES = 102400
ENTRA_TOO_LARGE = ("ErrorItemNotFound", "The specified object was not found in the store.")
# Content types a photo write may carry. image/jpeg is the documented one; application/octet-stream is what Graph's
# OpenAPI description lists and what msgraph-sdk and Set-MgUserPhotoContent send. The bytes decide what the image is.
# image/png is taken only with the behaviour png=accept (BEHAVIOURS.md, "Graph answers in detail", Writes).
WRITE_CONTENT_TYPES = ("image/jpeg", "application/octet-stream")
PNG_REFUSED = "The photo must be a JPEG image (Content-Type: image/jpeg); PNG images are not accepted."
_SIZE = re.compile(r"(\d+)x(\d+)", re.IGNORECASE)


class PhotoOperations:
    """Mixed into GraphApi."""

    # ----------------------------------------------------------------- photo operations

    @staticmethod
    def _size_id(call, width, height, dialect):
        separator = "X" if dialect == OUTLOOK or call.behaviours["id_case"] == "upper" else "x"
        return "%d%s%d" % (width, separator, height)

    def _entity(self, req, call, content_type, etag, width, height, size_path=None):
        """Photo metadata: Graph's camelCase entity or Outlook v2.0's PascalCase one."""
        uid = call.owner.id
        if call.dialect == OUTLOOK:
            base = req.base_url + "/api/v2.0"
            context = "Me/photo/$entity" if call.me else "Users('%s')/photo/$entity" % uid
            return {"@odata.context": "%s/$metadata#%s" % (base, context), "@odata.id": "%s/Users('%s')/photo" % (base, uid),
                    "@odata.mediaContentType": content_type, "@odata.mediaEtag": etag,
                    "Id": self._size_id(call, width, height, OUTLOOK), "Width": width, "Height": height}
        base = req.base_url + call.version
        size_id = self._size_id(call, width, height, GRAPH)
        path, context = ("photos('%s')" % size_id, "photos/$entity") if size_path else ("photo", "photo/$entity")
        collection = call.owner_collection
        # A user's @odata.id names the owner as <object id>@<tenant id>, as the docs' example does (graph-photo-api.md
        # 1.5); a group's or a Team's names the object id alone (assumption: no example shows one).
        owner = "%s@%s" % (uid, call.tenant.id) if call.kind == USER else uid
        return {"@odata.context": "%s/$metadata#%s('%s')/%s" % (base, collection, uid, context),
                "@odata.id": "%s/%s('%s')/%s" % (base, collection, owner, path),
                "@odata.mediaContentType": content_type, "@odata.mediaEtag": etag, "id": size_id, "width": width, "height": height}

    def _placeholder(self, req, call, size_path=None):
        """The 1x1 image/gif entity the docs show for a user without a photo."""
        return Response.json(200, self._entity(req, call, "image/gif", "", 1, 1, size_path))

    def _wants_placeholder(self, call):
        return call.dialect == OUTLOOK or call.behaviours["no_photo"] == "placeholder"

    def _photo_not_found(self, req, call):
        code = "ErrorItemNotFound" if call.dialect == OUTLOOK else call.behaviours["no_photo_code"]
        return graph_error(req, 404, code, NO_PHOTO_MESSAGES[code])

    def _without_mailbox(self, req, call):
        """The answer to a photo call on a user without an Exchange Online mailbox; None when no_mailbox=mailbox
        serves them like everyone else, or no_mailbox=entra does (every call but a write over the Entra cap)."""
        answer = call.behaviours["no_mailbox"]
        if answer == "mailbox":
            return None
        if answer == "entra":
            # The photo lives in Entra ID (MC678855): served as any user's, except that Entra takes no more than
            # ENTRA_PHOTO_MAX_BYTES. Checked before the body's own checks (4 MB, Content-Type, image), as the other
            # no-mailbox answers are.
            if call.operation == "photo_value" and req.method in ("PUT", "PATCH") and req.body_size > ENTRA_PHOTO_MAX_BYTES:
                return graph_error(req, 404, *ENTRA_TOO_LARGE)
            return None
        if answer in NO_MAILBOX_MESSAGES:
            return graph_error(req, 404, answer, NO_MAILBOX_MESSAGES[answer])
        # no_photo: every read says "no photo" as the no_photo switches decide; a write or a removal finds none.
        if req.method == "GET" and self._wants_placeholder(call):
            if call.operation == "photo":
                return self._placeholder(req, call)
            if call.operation == "size":
                return self._placeholder(req, call, True)
            if call.operation == "photos":
                return self._list_photos(req, call, hide_photo=True)
        return self._photo_not_found(req, call)

    @staticmethod
    def _photo_of(req, call):
        """The photo this read sees: the visible one, or with a "stale" fault the user's previous one."""
        return call.owner.stale_photo if req.stale else call.owner.visible_photo()

    @staticmethod
    def _value(call, photo, data, content_type):
        """A $value answer; with value_etag it carries the etag of the photo whose bytes it serves."""
        headers = {"ETag": photo.etag} if call.behaviours["value_etag"] else None
        return Response(200, data, content_type, headers)

    def _get_photo(self, req, call):
        photo = self._photo_of(req, call)
        if photo is None:
            return self._placeholder(req, call) if self._wants_placeholder(call) else self._photo_not_found(req, call)
        return Response.json(200, self._entity(req, call, photo.content_type, photo.etag, photo.width, photo.height))

    def _get_photo_value(self, req, call):
        photo = self._photo_of(req, call)
        if photo is None:
            return self._photo_not_found(req, call)
        return self._value(call, photo, photo.data, photo.content_type)

    def _list_photos(self, req, call, hide_photo=False):
        photo = None if hide_photo else self._photo_of(req, call)
        if photo is None:
            if not self._wants_placeholder(call):
                return self._photo_not_found(req, call)
            value = [self._entity(req, call, "image/gif", "", 1, 1, True)]
        else:
            value = [self._entity(req, call, self._sized_content_type(photo, size), photo.etag, size[0], size[1], True) for size in photo.sizes()]
        for entry in value:
            del entry["@odata.context"]
        context = "%s%s/$metadata#%s('%s')/photos" % (req.base_url, call.version, call.owner_collection, call.owner.id)
        return Response.json(200, {"@odata.context": context, "value": value})

    @staticmethod
    def _sized_content_type(photo, size):
        return photo.content_type if size == (photo.width, photo.height) else "image/jpeg"

    def _find_size(self, req, call):
        """(photo, (w, h)) when the user has a photo in the asked size, else (photo or None, None)."""
        photo = self._photo_of(req, call)
        match = _SIZE.fullmatch(call.size)
        size = (int(match.group(1)), int(match.group(2))) if match else None
        if photo is None or size not in photo.sizes():
            return photo, None
        return photo, size

    def _get_size(self, req, call):
        photo, size = self._find_size(req, call)
        if size is None:
            return self._placeholder(req, call, True) if self._wants_placeholder(call) else self._photo_not_found(req, call)
        return Response.json(200, self._entity(req, call, self._sized_content_type(photo, size), photo.etag, size[0], size[1], True))

    def _get_size_value(self, req, call):
        photo, size = self._find_size(req, call)
        if size is None:
            return self._photo_not_found(req, call)
        if size == (photo.width, photo.height):
            return self._value(call, photo, photo.data, photo.content_type)
        data = photo.resized.get(size)
        if data is None:
            data = photo.resized[size] = images.resized_jpeg(photo.data, size[0], size[1])
        return self._value(call, photo, data, "image/jpeg")

    def _write_photo(self, req, call):
        if req.body_size > MAX_PHOTO_BYTES:
            return graph_error(req, 413, "RequestEntityTooLarge", "The photo is larger than the 4 MB limit (%d bytes)." % req.body_size)
        content_type = req.headers.get("content-type", "").split(";")[0].strip().lower()
        png_accepted = call.behaviours["png"] == "accept"
        if content_type == "image/png" and not png_accepted:
            return graph_error(req, 400, "BadRequest", PNG_REFUSED)
        if content_type not in WRITE_CONTENT_TYPES + (("image/png",) if png_accepted else ()):
            return graph_error(req, 400, "BadRequest", "The Content-Type header must be image/jpeg or application/octet-stream, not '%s'." % content_type)
        try:
            photo = Photo.from_bytes(req.body)  # a full decode: a truncated or non-image body fails here
            if photo.content_type == "image/png" and not png_accepted:  # the bytes decide, whatever the label
                return graph_error(req, 400, "BadRequest", PNG_REFUSED)
            too_small = self._too_small(req, call, photo)
            if too_small is not None:
                return too_small
            if call.behaviours["reencode"]:
                data = images.reencode_jpeg(req.body, orientation=call.behaviours["reencode_orientation"])
                photo = Photo.from_bytes(data, "image/jpeg", full_decode=False, uploaded_sha256=photo.sha256)
        except images.ImageError:
            return graph_error(req, 400, "ImageProcessingFailed", "The photo could not be processed: the body is not a valid image.")
        call.tenant.set_photo(call.owner, photo)
        return Response(200 if call.dialect == OUTLOOK else call.behaviours["write_status"])

    @staticmethod
    def _too_small(req, call, photo):
        """min_photo_side (assumption: the real minimum is undocumented): the upload's pixel array, before any re-encode
        or EXIF orientation, must be at least that wide, then at least that high; None when it is."""
        side = call.behaviours["min_photo_side"]
        if side is None or (photo.width >= side and photo.height >= side):
            return None
        code, what = ("ValidationWidthTooSmall", "wide") if photo.width < side else ("ValidationHeightTooSmall", "high")
        return graph_error(req, 400, code, "The photo is %dx%d pixels; the smallest accepted is %d pixels %s."
                           % (photo.width, photo.height, side, what))

    def _delete_photo(self, req, call):
        if call.owner.photo is None:
            return self._photo_not_found(req, call)
        call.tenant.set_photo(call.owner, None)
        return Response(200)

    # ----------------------------------------------------------------- users
