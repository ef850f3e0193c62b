# SPDX-License-Identifier: GPL-3.0-or-later
"""Journal records (run.py start --persist): what each object becomes in tenant.jsonl, and back.

A record without "tenant" belongs to the default tenant: that is how the journals of 1.0.0 read.
"""

from __future__ import annotations

import base64

from .directory import Group, Photo, User
from .replica import check_etag


def photo_record(photo):
    if photo is None:
        return None
    return {"b64": base64.b64encode(photo.data).decode("ascii"), "content_type": photo.content_type,
            "uploaded_sha256": photo.uploaded_sha256, "etag": photo.etag.strip('"')}


def photo_from_record(record):
    if not record:
        return None
    return Photo.from_bytes(base64.b64decode(record["b64"]), record.get("content_type"), full_decode=False,
                            uploaded_sha256=record.get("uploaded_sha256"), etag=check_etag(record.get("etag")))


def _tagged(record, tenant_id):
    if tenant_id is not None:
        record["tenant"] = tenant_id
    return record


def user_record(user, tenant_id=None):
    return _tagged({"op": "user", "id": user.id, "upn": user.upn, "name": user.display_name, "mail": user.mail,
                    "photo": photo_record(user.photo), "user_type": user.declared_type, "mailbox": user.mailbox_flag,
                    "account_enabled": user.account_enabled}, tenant_id)


def user_from_record(record):
    """A journal's user; a record without account_enabled (journals written before it existed) is an enabled account."""
    return User(record["id"], record["upn"], record["name"], record.get("mail"), photo_from_record(record.get("photo")),
                declared_type=record.get("user_type"), mailbox_flag=record.get("mailbox"),
                account_enabled=record.get("account_enabled") is not False)


def group_record(group, tenant_id):
    return _tagged({"op": "group", "id": group.id, "name": group.display_name, "nickname": group.mail_nickname, "mail": group.mail,
                    "group_types": list(group.group_types), "provisioning": list(group.provisioning),
                    "mail_enabled": group.mail_enabled, "security_enabled": group.security_enabled,
                    "photo": photo_record(group.photo)}, tenant_id)


def group_from_record(record):
    return Group(record["id"], record["name"], record["nickname"], record.get("mail"), tuple(record["group_types"]),
                 tuple(record["provisioning"]), bool(record["mail_enabled"]), bool(record["security_enabled"]),
                 photo_from_record(record.get("photo")))


def client_record(spec):
    return {"op": "client", "spec": spec}


def tenant_record(tenant):
    return {"op": "tenant", "tenant": tenant.id, "name": tenant.name, "domains": list(tenant.domains),
            "profile": tenant.behaviours.start_profile}
