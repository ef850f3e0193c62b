# SPDX-License-Identifier: GPL-3.0-or-later
"""Directory objects of a tenant, and their photos: users, groups (a Team is a group), and how control-API specs
become them."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import re
import time
import uuid
import zlib

from . import images
from .replica import check_etag, quoted_etag

STANDARD_SIZES = (48, 64, 96, 120, 240, 360, 432, 504, 648)
# Deterministic ids for generated users and groups: uuid5 in a namespace of our own.
GENERATED_NAMESPACE = uuid.UUID("6f1c8a52-3b7e-4c1d-9a0e-2d5b7c9e0f11")
UNIFIED = "Unified"
TEAM = "Team"


def etag_of(data: bytes) -> str:
    """The quoted 8-hex-digit etag Graph shows in @odata.mediaEtag; it changes whenever the bytes change."""
    return '"%08X"' % (zlib.crc32(data) & 0xFFFFFFFF)


@dataclasses.dataclass(frozen=True)
class Photo:
    data: bytes
    content_type: str
    width: int
    height: int
    etag: str
    sha256: str
    resized: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)  # (w, h) -> JPEG bytes
    # SHA-256 of the bytes as the client sent them, before any re-encoding: only the oracle view shows it, so that
    # tests can tell which upload a re-encoded photo came from (the API never shows it; clients cannot rely on it).
    uploaded_sha256: str | None = None

    @classmethod
    def from_bytes(cls, data: bytes, content_type: str | None = None, full_decode: bool = True,
                   uploaded_sha256: str | None = None, etag: str | None = None) -> Photo:
        """Raises images.ImageError when the bytes are not an image. etag: a forced etag (unquoted, replica.check_etag)
        in place of the CRC32 of the bytes, so that tests can give another picture an etag seen before."""
        detected, width, height = images.inspect(data, full=full_decode)
        sha256 = hashlib.sha256(data).hexdigest()
        return cls(data, content_type or detected, width, height, quoted_etag(etag) if etag else etag_of(data), sha256,
                   uploaded_sha256=uploaded_sha256 or sha256)

    def sizes(self):
        """(width, height) pairs Graph lists in /photos: the standard squares that fit, plus the stored size."""
        found = [(size, size) for size in STANDARD_SIZES if size <= min(self.width, self.height)]
        if (self.width, self.height) not in found:
            found.append((self.width, self.height))
        return found

    def view(self):
        return {"content_type": self.content_type, "width": self.width, "height": self.height,
                "sha256": self.sha256, "uploaded_sha256": self.uploaded_sha256, "size": len(self.data), "etag": self.etag}


class PhotoHolder:
    """What users and groups share: a photo, and what readers saw before its last change (None: no photo, or no
    change yet). Propagation delay: until stale_until (monotonic clock) every reader still sees the previous photo; a
    "stale" fault (a lagging replica) serves it at any time."""

    photo: Photo | None
    stale_photo: Photo | None
    stale_until: float

    def visible_photo(self) -> Photo | None:
        """The photo API readers see now (lock-free: the writer sets stale_photo before stale_until)."""
        if time.monotonic() < self.stale_until:
            return self.stale_photo
        return self.photo


@dataclasses.dataclass
class User(PhotoHolder):
    id: str
    upn: str
    display_name: str
    mail: str | None
    photo: Photo | None = None
    stale_photo: Photo | None = None
    stale_until: float = 0.0
    declared_type: str | None = None  # "Member" or "Guest" as seeded; None: a guest when the UPN holds #EXT#
    mailbox_flag: bool | None = None  # as seeded; None: members have an Exchange Online mailbox, guests do not
    account_enabled: bool = True  # Graph's accountEnabled: whether the account may sign in (served, and filtered on)
    kind = "user"

    @property
    def user_type(self):
        if self.declared_type:
            return self.declared_type
        return "Guest" if "#ext#" in self.upn.lower() else "Member"

    @property
    def has_mailbox(self) -> bool:
        """Whether the user has an Exchange Online mailbox; the no_mailbox behaviour decides what the others get."""
        return self.user_type != "Guest" if self.mailbox_flag is None else self.mailbox_flag

    def view(self):
        return {"id": self.id, "userPrincipalName": self.upn, "displayName": self.display_name, "mail": self.mail,
                "userType": self.user_type, "accountEnabled": self.account_enabled, "mailbox": self.has_mailbox,
                "has_photo": self.photo is not None,
                "photo": self.photo.view() if self.photo else None}


@dataclasses.dataclass
class Group(PhotoHolder):
    """A Microsoft 365 group (groupTypes holds Unified), or a security group / distribution list; a Team is a group
    whose resourceProvisioningOptions holds Team."""
    id: str
    display_name: str
    mail_nickname: str
    mail: str | None
    group_types: tuple = (UNIFIED,)
    provisioning: tuple = ()
    mail_enabled: bool = True
    security_enabled: bool = False
    photo: Photo | None = None
    stale_photo: Photo | None = None
    stale_until: float = 0.0
    kind = "group"

    @property
    def unified(self) -> bool:
        return any(kind.lower() == UNIFIED.lower() for kind in self.group_types)

    @property
    def is_team(self) -> bool:
        return any(option.lower() == TEAM.lower() for option in self.provisioning)

    def view(self):
        return {"id": self.id, "displayName": self.display_name, "mail": self.mail, "mailNickname": self.mail_nickname,
                "groupTypes": list(self.group_types), "resourceProvisioningOptions": list(self.provisioning),
                "mailEnabled": self.mail_enabled, "securityEnabled": self.security_enabled, "team": self.is_team,
                "has_photo": self.photo is not None, "photo": self.photo.view() if self.photo else None}


# --------------------------------------------------------------------------- control-API specs

def photo_from_spec(spec, label):
    """The Photo of a spec's photo_b64 (and forced photo_etag), or None."""
    etag = check_etag(spec.get("photo_etag"), "photo_etag of %s" % label)
    if etag is not None and not spec.get("photo_b64"):
        raise ValueError("photo_etag of %s needs photo_b64" % label)
    if not spec.get("photo_b64"):
        return None
    try:
        data = base64.b64decode(spec["photo_b64"], validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValueError("photo_b64 of %s is not base64" % label) from exc
    try:
        return Photo.from_bytes(data, full_decode=False, etag=etag)
    except images.ImageError as exc:
        raise ValueError("photo_b64 of %s is not an image: %s" % (label, exc)) from exc


def _optional_id(spec):
    object_id = spec.get("id")
    if object_id is not None and not isinstance(object_id, str):
        raise ValueError("id must be a string")
    return object_id


def user_from_spec(spec):
    if not isinstance(spec, dict) or not isinstance(spec.get("userPrincipalName"), str) or "@" not in spec["userPrincipalName"]:
        raise ValueError("each user needs a userPrincipalName like name@domain")
    upn = spec["userPrincipalName"]
    photo = photo_from_spec(spec, upn)
    user_id = _optional_id(spec)
    user_type = spec.get("userType")
    if user_type is not None and user_type not in ("Member", "Guest"):
        raise ValueError("userType of %s must be Member or Guest" % upn)
    mailbox = spec.get("mailbox")
    if mailbox is not None and not isinstance(mailbox, bool):
        raise ValueError("mailbox of %s must be true or false" % upn)
    account_enabled = spec.get("accountEnabled", True)
    if not isinstance(account_enabled, bool):
        raise ValueError("accountEnabled of %s must be true or false" % upn)
    guest = user_type == "Guest" or (user_type is None and "#ext#" in upn.lower())
    mail = spec.get("mail", None if guest else upn)
    return User(user_id, upn, spec.get("displayName") or upn.split("@")[0], mail, photo,
                declared_type=user_type, mailbox_flag=mailbox, account_enabled=account_enabled)


def _string_tuple(spec, name, default, label):
    value = spec.get(name, default)
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise ValueError("%s of %s must be a list of strings" % (name, label))
    return tuple(value)


def _flag(spec, name, default, label):
    value = spec.get(name, default)
    if not isinstance(value, bool):
        raise ValueError("%s of %s must be true or false" % (name, label))
    return value


def nickname_of(display_name):
    """A mailNickname Graph would accept, made from a display name: ASCII letters, digits, '-', '_' and '.'."""
    return re.sub(r"[^A-Za-z0-9._-]", "", display_name) or "group"


def group_from_spec(spec, domain):
    """A Group from {displayName, mailNickname?, mail?, groupTypes?, team?, resourceProvisioningOptions?,
    mailEnabled?, securityEnabled?, id?, photo_b64?, photo_etag?}; mail defaults to mailNickname@domain when the group
    is mail-enabled (a Microsoft 365 group is, a security group is not)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("displayName"), str) or not spec["displayName"].strip():
        raise ValueError("each group needs a displayName")
    label = spec["displayName"]
    nickname = spec.get("mailNickname", nickname_of(label))
    if not isinstance(nickname, str) or not nickname or "@" in nickname or " " in nickname:
        raise ValueError("mailNickname of %s must be a non-empty string without '@' or spaces" % label)
    group_types = _string_tuple(spec, "groupTypes", [UNIFIED], label)
    provisioning = _string_tuple(spec, "resourceProvisioningOptions", [], label)
    if _flag(spec, "team", False, label) and TEAM not in provisioning:
        provisioning += (TEAM,)
    unified = any(kind.lower() == UNIFIED.lower() for kind in group_types)
    if provisioning and not unified:
        raise ValueError("%s: only a Microsoft 365 group (groupTypes Unified) can be a Team" % label)
    mail_enabled = _flag(spec, "mailEnabled", unified, label)
    security_enabled = _flag(spec, "securityEnabled", not unified, label)
    mail = spec.get("mail", "%s@%s" % (nickname, domain) if mail_enabled else None)
    if mail is not None and (not isinstance(mail, str) or "@" not in mail):
        raise ValueError("mail of %s must be null or an address" % label)
    return Group(_optional_id(spec), label, nickname, mail, group_types, provisioning, mail_enabled, security_enabled,
                 photo_from_spec(spec, label))
