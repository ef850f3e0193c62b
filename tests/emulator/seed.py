# SPDX-License-Identifier: GPL-3.0-or-later
"""The default tenant and what it holds after a start or POST /_emulator/reset (README, "Default seed")."""

from __future__ import annotations

from . import images
from .directory import Group, Photo, User

TENANT_ID = "00000000-0000-4000-8000-00000000c0de"
TENANT_DOMAIN = "contoso.onmicrosoft.com"
DEFAULT_TENANT_NAME = "contoso"
DEFAULT_USERS = (
    ("ade1e000-0000-4000-8000-000000000001", "adele.vance@contoso.onmicrosoft.com", "Adele Vance", False),
    ("a1e80000-0000-4000-8000-000000000002", "alex.wilber@contoso.onmicrosoft.com", "Alex Wilber", True),
    ("3e6a0000-0000-4000-8000-000000000003", "megan.bowen@contoso.onmicrosoft.com", "Megan Bowen", False),
    ("70400000-0000-4000-8000-000000000004", "john_fabrikam.com#EXT#@contoso.onmicrosoft.com", "John (Fabrikam)", False),
    ("0b810000-0000-4000-8000-000000000005", "o'brien@contoso.onmicrosoft.com", "Siobhan O'Brien", False),
    ("20e00000-0000-4000-8000-000000000006", "zo\u00eb.m\u00fcller@contoso.onmicrosoft.com", "Zo\u00eb M\u00fcller", False),
    ("a0b0c0d0-0000-4000-8000-000000000007", "a+b%c/d?e@contoso.onmicrosoft.com", "A+B Tricky", False),
)
# Groups: (id, displayName, mailNickname, groupTypes, Team?, photo?). A Microsoft 365 group that is a Team and has a
# photo, one that is a Team without one, a Microsoft 365 group without a Team, and a security group (no mail).
DEFAULT_GROUPS = (
    ("9a000000-0000-4000-8000-000000000001", "Sales", "sales", ("Unified",), True, True),
    ("9a000000-0000-4000-8000-000000000002", "Project Phoenix", "phoenix", ("Unified",), True, False),
    ("9a000000-0000-4000-8000-000000000003", "Marketing", "marketing", ("Unified",), False, False),
    ("9a000000-0000-4000-8000-000000000004", "Finance Approvers", "finance-approvers", (), False, False),
)


def seed_default_tenant(tenant):
    for user_id, upn, name, has_photo in DEFAULT_USERS:
        photo = Photo.from_bytes(images.make_jpeg(240, 240, 1)) if has_photo else None
        mail = "john@fabrikam.com" if "#EXT#" in upn else upn
        # Every seeded user has a mailbox, the guest John too: the seed serves the addressing tests
        # (#EXT# in a key); users without one are added through the control API ("mailbox": false).
        tenant.put_user(User(user_id, upn, name, mail, photo, mailbox_flag=True))
    for group_id, name, nickname, group_types, team, has_photo in DEFAULT_GROUPS:
        unified = "Unified" in group_types
        photo = Photo.from_bytes(images.make_jpeg(240, 240, 2)) if has_photo else None
        tenant.put_group(Group(group_id, name, nickname, "%s@%s" % (nickname, TENANT_DOMAIN) if unified else None, group_types,
                               ("Team",) if team else (), mail_enabled=unified, security_enabled=not unified, photo=photo))
