# SPDX-License-Identifier: GPL-3.0-or-later
"""One tenant: its domains, its directory (users and groups), the apps consented in it, its photo policy, and its own
behaviours and limits. Nothing here is shared with another tenant."""

from __future__ import annotations

import bisect
import re
import threading
import time
import uuid

from . import images, records
from .apps import check_roles
from .behaviours import Behaviours
from .directory import GENERATED_NAMESPACE, Group, Photo, User, group_from_spec, user_from_spec

PHOTO_SOURCES = ("cloud", "onPremises")
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def check_policy(patch):
    """A checked photoUpdateSettings change: {"source": "cloud"|"onPremises", "allowedRoles": [role template ids]}."""
    if not isinstance(patch, dict):
        raise ValueError("photoUpdateSettings must be a JSON object")
    unknown = sorted(set(patch) - {"source", "allowedRoles", "@odata.type", "@odata.context"})
    if unknown:
        raise ValueError("unknown photoUpdateSettings property %r (known: source, allowedRoles)" % unknown[0])
    checked = {}
    if "source" in patch:
        if patch["source"] not in PHOTO_SOURCES:
            raise ValueError("source must be cloud or onPremises")
        checked["source"] = patch["source"]
    if "allowedRoles" in patch:
        roles = patch["allowedRoles"]
        if not isinstance(roles, list) or not all(isinstance(role, str) and _GUID.fullmatch(role) for role in roles):
            raise ValueError("allowedRoles must be a list of role template ids (GUIDs)")
        checked["allowedRoles"] = [role.lower() for role in roles]
    return checked


class _Index:
    """Objects of one kind, found by any of their keys (case-insensitive), listed in a stable order."""

    def __init__(self, keys_of, order_of):
        self._keys_of = keys_of
        self._order_of = order_of
        self._by_key = {}
        self._by_id = {}
        self._order = None
        self._keys = []

    def __len__(self):
        return len(self._by_id)

    def find(self, key):
        return self._by_key.get(key.lower())

    def by_id(self, object_id):
        return self._by_id.get(object_id.lower())

    def remove(self, item):
        for key in self._keys_of(item):
            if self._by_key.get(key) is item:
                del self._by_key[key]
        self._by_id.pop(item.id.lower(), None)
        self._order = None

    def put(self, item):
        """Add or replace; an old object that shares its id or any key is replaced. Returns what it replaced."""
        replaced = [old for old in (self._by_id.get(item.id.lower()), *map(self._by_key.get, self._keys_of(item))) if old]
        for old in replaced:
            self.remove(old)
        self._by_id[item.id.lower()] = item
        for key in self._keys_of(item):
            self._by_key[key] = item
        self._order = None
        return replaced[0] if replaced else None

    def ordered(self):
        if self._order is None:
            self._order = sorted(((self._order_of(item), item) for item in self._by_id.values()), key=lambda pair: pair[0])
            self._keys = [key for key, dummy in self._order]
        return self._order

    def page(self, after, top, match=None):
        """(items after the order key `after` that match, key for the next page or None)."""
        order = self.ordered()
        start = bisect.bisect_right(self._keys, after) if after else 0
        found, last = [], None
        for key, item in order[start:]:
            if match is None or match(item):
                if len(found) == top:
                    return found, last
                found.append(item)
                last = key
        return found, None


def _user_keys(user):
    return (user.id.lower(), user.upn.lower())


def _group_keys(group):
    keys = [group.id.lower()]
    if group.mail:
        keys.append(group.mail.lower())
    return tuple(keys)


def _group_order(group):
    return "%s\x00%s" % (group.display_name.lower(), group.id.lower())


class Tenant:
    """write: a callable taking journal records (State's, a no-op without persistence); clock: State.clock."""

    def __init__(self, tenant_id, name, domains, profile, clock, write, default=False):
        self.id = tenant_id
        self.name = name
        self.domains = list(domains)
        self.default = default
        self.behaviours = Behaviours(profile, clock)
        self._write = write
        self._lock = threading.Lock()
        self.users = _Index(_user_keys, lambda user: user.upn.lower())
        self.groups = _Index(_group_keys, _group_order)
        self._consents = {}  # client id (lower case) -> roles the tenant granted it
        self.photo_policy = {"source": "cloud", "allowedRoles": []}

    @property
    def domain(self):
        """The initial domain (<name>.onmicrosoft.com): generated users and groups get it."""
        return self.domains[0]

    def answers_to(self, name):
        """Whether an authority's tenant segment (id or domain, any case) names this tenant."""
        name = name.lower()
        return name == self.id.lower() or name in (domain.lower() for domain in self.domains)

    def view(self):
        return {"id": self.id, "name": self.name, "domains": list(self.domains), "default": self.default,
                "users": len(self.users), "groups": len(self.groups), "photo_policy": dict(self.photo_policy),
                "consents": [{"client_id": client_id, "roles": list(roles)} for client_id, roles in sorted(self._consents.items())],
                "profile": self.behaviours.profile}

    def clear(self):
        """No users, no groups, no consents, the cloud policy, the start profile's behaviours."""
        with self._lock:
            self.users = _Index(_user_keys, lambda user: user.upn.lower())
            self.groups = _Index(_group_keys, _group_order)
            self._consents = {}
            self.photo_policy = {"source": "cloud", "allowedRoles": []}
        self.behaviours.reset()
        self.behaviours.limits.clear_mailboxes()

    # ----------------------------------------------------------------- users

    def find_user(self, key: str) -> User | None:
        """By object id or UPN, case-insensitive."""
        return self.users.find(key)

    def all_users(self):
        with self._lock:
            return [user for dummy, user in self.users.ordered()]

    def users_page(self, after: str | None, top: int, match=None):
        """Users in a stable order (UPN, case-insensitive) after the key `after`, those `match` takes (None: all);
        returns (users, key for the next page or None)."""
        with self._lock:
            return self.users.page(after, top, match)

    def add_users(self, specs) -> list:
        """Create or replace users from control-API specs; validates everything before changing anything."""
        users = [user_from_spec(spec) for spec in specs]
        with self._lock:
            for user in users:
                existing = self.users.find(user.upn)
                if user.id is None:
                    user.id = existing.id if existing else str(uuid.uuid4())
                replaced = self.users.by_id(user.id) or existing
                if replaced is not None:  # a change through the control API: readers saw the replaced user's photo
                    user.stale_photo = replaced.visible_photo()
                self.users.put(user)
            self._write([records.user_record(user, self.id) for user in users])
        return users

    def put_user(self, user):
        """Add a user as it is (the seed, the journal): no validation, no journal record."""
        with self._lock:
            self.users.put(user)

    def generate_users(self, count, domain=None, prefix="user", photo_ratio=0.0, photo_size=96):
        """prefix00001@domain ...: deterministic ids and photos; photo_ratio of them (evenly spread) get a tiny JPEG."""
        domain = domain or self.domain
        width = max(5, len(str(count)))
        users = []
        for index in range(1, count + 1):
            upn = "%s%0*d@%s" % (prefix, width, index, domain)
            photo = _generated_photo(index, photo_ratio, photo_size)
            users.append(User(str(uuid.uuid5(GENERATED_NAMESPACE, upn.lower())), upn, "%s %0*d" % (prefix.title(), width, index), upn, photo))
        with self._lock:
            for user in users:
                self.users.put(user)
            self._write([records.user_record(user, self.id) for user in users])
        return users

    def delete_user(self, key) -> bool:
        with self._lock:
            user = self.users.find(key)
            if user is None:
                return False
            self.users.remove(user)
            self._write([{"op": "delete_user", "tenant": self.id, "id": user.id}])
            return True

    # ----------------------------------------------------------------- groups and Teams

    def find_group(self, key: str) -> Group | None:
        """By object id or mail, case-insensitive; then by mailNickname when exactly one group has it."""
        with self._lock:
            found = self.groups.find(key)
            if found is None:
                named = [group for dummy, group in self.groups.ordered() if group.mail_nickname.lower() == key.lower()]
                found = named[0] if len(named) == 1 else None
            return found

    def group_by_id(self, group_id: str) -> Group | None:
        """What Graph's /groups/{id} finds: the object id only."""
        return self.groups.by_id(group_id)

    def all_groups(self):
        with self._lock:
            return [group for dummy, group in self.groups.ordered()]

    def groups_page(self, after, top, match=None):
        with self._lock:
            return self.groups.page(after, top, match)

    def add_groups(self, specs) -> list:
        groups = [group_from_spec(spec, self.domain) for spec in specs]
        with self._lock:
            for group in groups:
                existing = self.groups.find(group.mail) if group.mail else None
                if group.id is None:
                    group.id = existing.id if existing else str(uuid.uuid4())
                replaced = self.groups.by_id(group.id) or existing
                if replaced is not None:
                    group.stale_photo = replaced.visible_photo()
                self.groups.put(group)
            self._write([records.group_record(group, self.id) for group in groups])
        return groups

    def generate_groups(self, count, prefix="group", team_ratio=0.0, photo_ratio=0.0, photo_size=96):
        """Microsoft 365 groups prefix00001@<initial domain> ...; team_ratio of them (evenly spread) are Teams."""
        width = max(5, len(str(count)))
        groups = []
        for index in range(1, count + 1):
            nickname = "%s%0*d" % (prefix, width, index)
            mail = "%s@%s" % (nickname, self.domain)
            team = int(index * team_ratio) != int((index - 1) * team_ratio)
            groups.append(Group(str(uuid.uuid5(GENERATED_NAMESPACE, "group:" + mail.lower())), "%s %0*d" % (prefix.title(), width, index),
                                nickname, mail, provisioning=("Team",) if team else (),
                                photo=_generated_photo(index, photo_ratio, photo_size)))
        with self._lock:
            for group in groups:
                self.groups.put(group)
            self._write([records.group_record(group, self.id) for group in groups])
        return groups

    def delete_group(self, key) -> bool:
        group = self.find_group(key)
        with self._lock:
            if group is None or self.groups.by_id(group.id) is not group:
                return False
            self.groups.remove(group)
            self._write([{"op": "delete_group", "tenant": self.id, "id": group.id}])
            return True

    def put_group(self, group):
        with self._lock:
            self.groups.put(group)

    # ----------------------------------------------------------------- photos (users and groups alike)

    def set_photo(self, owner, photo: Photo | None, propagate: bool = True):
        """Store (or clear, photo=None) a user's or a group's photo. What readers saw before is kept as the previous
        photo (one level, served by "stale" faults); with propagate and a propagation delay, every reader keeps seeing
        it until the delay has passed."""
        with self._lock:
            delay = self.behaviours["propagation_delay_s"] if propagate else 0
            owner.stale_photo = owner.visible_photo()
            owner.stale_until = time.monotonic() + delay if delay > 0 else 0.0
            owner.photo = photo
            self._write([{"op": "photo", "tenant": self.id, "kind": owner.kind, "id": owner.id,
                          "photo": records.photo_record(photo)}])

    # ----------------------------------------------------------------- consents and the photo policy

    def consent(self, client_id, roles):
        """Grant an app registration these roles in this tenant (admin consent); replaces an earlier grant."""
        roles = check_roles(roles)
        with self._lock:
            self._consents[client_id.lower()] = roles
            self._write([{"op": "consent", "tenant": self.id, "client_id": client_id, "roles": list(roles)}])

    def put_consent(self, client_id, roles):
        with self._lock:
            self._consents[client_id.lower()] = tuple(roles)

    def consented_roles(self, client_id):
        """The roles the app holds here, or None when it is not consented in this tenant."""
        return self._consents.get((client_id or "").lower())

    def withdraw_consent(self, client_id) -> bool:
        with self._lock:
            found = self._consents.pop(client_id.lower(), None) is not None
            if found:
                self._write([{"op": "withdraw", "tenant": self.id, "client_id": client_id}])
            return found

    def update_policy(self, patch):
        checked = check_policy(patch)
        with self._lock:
            self.photo_policy.update(checked)
            self._write([{"op": "policy", "tenant": self.id, "policy": dict(self.photo_policy)}])
            return dict(self.photo_policy)

    @property
    def cloud_photos(self) -> bool:
        """False when photoUpdateSettings says onPremises: photo writes in the cloud are turned off."""
        return self.photo_policy["source"] != "onPremises"


def _generated_photo(index, ratio, size):
    # Object i has a photo when floor(i * ratio) steps up: exactly round-down(count * ratio) photos, evenly spread.
    if int(index * ratio) == int((index - 1) * ratio):
        return None
    return Photo.from_bytes(images.make_jpeg(size, size, index, 75), full_decode=False)
