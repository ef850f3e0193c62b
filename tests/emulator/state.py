# SPDX-License-Identifier: GPL-3.0-or-later
"""Everything the emulator knows: its tenants (tenant.py), the app registrations and tokens (apps.py), the request log
(request_log.py), and the journal that keeps them across restarts (persist.py, records.py).

There is always a default tenant, the only one 1.0.0 knew: the control API's paths without /tenants/{tenant} and the
methods below that name no tenant act on it. More tenants are added with add_tenant (POST /_emulator/tenants).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import uuid

from . import images, records
from .apps import DEFAULT_CLIENTS, KNOWN_RESOURCES, Apps, Client, Token, client_from_spec, client_spec, normalize_resource
from .behaviours import DEFAULT_BEHAVIOURS, DEFAULT_PROFILE, PRODUCTION_PROPAGATION_DELAY_S, PROFILES, profile_behaviours
from .request_log import RequestLog
from .seed import DEFAULT_GROUPS, DEFAULT_TENANT_NAME, DEFAULT_USERS, TENANT_DOMAIN, TENANT_ID, seed_default_tenant
from .tenant import Tenant, check_policy

# What the tests and run.py import from here, as they did when this module held everything.
__all__ = ["State", "DEFAULT_BEHAVIOURS", "DEFAULT_PROFILE", "PRODUCTION_PROPAGATION_DELAY_S", "PROFILES", "TENANT_DOMAIN",
           "TENANT_ID"]

_TENANT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_TENANT_NAMESPACE = uuid.UUID("0d3c1f6e-58a4-4b9e-8f27-6a1e4c2b9d70")


def _user_record(user):
    """A default-tenant user's journal record (as 1.0.0 wrote it)."""
    return records.user_record(user)


class State:
    """The tenants, the apps and tokens, the request log. Each part has its own lock, held briefly."""

    def __init__(self, profile: str = DEFAULT_PROFILE):
        profile_behaviours(profile)  # an unknown name fails here, before anything starts
        self.start_profile = profile  # the profile every tenant starts with, and reset() restores
        self.identity_header = secrets.token_urlsafe(24)  # per run, survives reset (clients hold it in their env)
        self.clock = time.monotonic  # what the write limits measure with; tests replace it
        self.apps = Apps()
        self.log = RequestLog()
        self._journal = None  # a persist.Journal once attach_journal() ran: every change is written through
        self._lock = threading.Lock()
        self._tenants = {}
        self.default_tenant = None
        self.reset()

    # ----------------------------------------------------------------- tenants

    def _new_tenant(self, tenant_id, name, domains, profile, default=False):
        return Tenant(tenant_id, name, domains, profile, self._now, self._write, default)

    def _now(self):
        return self.clock()  # late-bound: tests replace State.clock after the tenants exist

    def reset(self):
        """One tenant with the default seed and behaviours, the two app registrations, no tokens, an empty log."""
        tenant = self._new_tenant(TENANT_ID, DEFAULT_TENANT_NAME, [TENANT_DOMAIN], self.start_profile, default=True)
        seed_default_tenant(tenant)
        self.apps.reset()
        with self._lock:
            self._tenants = {tenant.id.lower(): tenant}
            self.default_tenant = tenant
        for spec in DEFAULT_CLIENTS:
            client = client_from_spec(spec)
            self.apps.put_client(client)
            tenant.put_consent(client.client_id, client.roles)
        if self._journal is not None:
            self._journal.rewrite_tenant(self._snapshot())
        self.clear_log()

    def tenant(self, name) -> Tenant | None:
        """A tenant by its id, its name or any of its domains (case-insensitive)."""
        name = (name or "").lower()
        with self._lock:
            found = self._tenants.get(name)
            if found is None:
                found = next((tenant for tenant in self._tenants.values()
                              if tenant.name == name or tenant.answers_to(name)), None)
            return found

    def tenant_by_authority(self, segment) -> Tenant | None:
        """The tenant an authority's path segment names: its id or one of its domains (never our label)."""
        with self._lock:
            return next((tenant for tenant in self._tenants.values() if tenant.answers_to(segment)), None)

    def tenants(self):
        with self._lock:
            return sorted(self._tenants.values(), key=lambda tenant: (not tenant.default, tenant.name))

    def add_tenant(self, spec) -> Tenant:
        """A new, empty tenant from {name, id?, domains?, profile?}: no users, no groups, no consented apps."""
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not _TENANT_NAME.fullmatch(spec["name"]):
            raise ValueError("each tenant needs a name of lower-case letters, digits and '-' (at most 40)")
        name = spec["name"]
        tenant_id = spec.get("id") or str(uuid.uuid5(_TENANT_NAMESPACE, name))
        if not isinstance(tenant_id, str) or not re.fullmatch(r"[0-9a-fA-F-]{36}", tenant_id):
            raise ValueError("id of tenant %s must be a GUID" % name)
        domains = spec.get("domains", ["%s.onmicrosoft.com" % name])
        if (not isinstance(domains, list) or not domains
                or not all(isinstance(domain, str) and re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", domain) for domain in domains)):
            raise ValueError("domains of tenant %s must be a non-empty list of DNS names" % name)
        profile = spec.get("profile", self.start_profile)
        profile_behaviours(str(profile))
        tenant = self._new_tenant(tenant_id.lower(), name, domains, str(profile))
        with self._lock:
            for other in self._tenants.values():
                clash = [key for key in [tenant.id, name] + domains if other.answers_to(key) or other.name == key.lower()]
                if clash:
                    raise ValueError("tenant %s: %s is already taken by tenant %s" % (name, clash[0], other.name))
            self._tenants[tenant.id] = tenant
        self._write([records.tenant_record(tenant)])
        return tenant

    def delete_tenant(self, name) -> bool:
        tenant = self.tenant(name)
        if tenant is None or tenant.default:
            return False
        with self._lock:
            self._tenants.pop(tenant.id.lower(), None)
        self.apps.revoke_tokens(tenant.id)
        self._write([{"op": "delete_tenant", "tenant": tenant.id}])
        return True

    def tenant_of(self, token) -> Tenant | None:
        """The tenant a token belongs to (None once that tenant was deleted)."""
        with self._lock:
            return self._tenants.get(token.tenant_id.lower())

    # ----------------------------------------------------------------- the default tenant (1.0.0's interface)

    @property
    def tenant_id(self):
        return self.default_tenant.id

    @property
    def tenant_domain(self):
        return self.default_tenant.domain

    @property
    def behaviours(self):
        return self.default_tenant.behaviours.values

    @property
    def profile(self):
        return self.default_tenant.behaviours.profile

    def get_behaviours(self):
        return self.default_tenant.behaviours.view()

    def update_behaviours(self, patch):
        return self.default_tenant.behaviours.update(patch)

    def latency_seconds(self, kind=None):
        return self.default_tenant.behaviours.latency_seconds(kind)

    def count_graph_request(self):
        return self.default_tenant.behaviours.limits.count_graph_request()

    def take_write(self, client_id):
        return self.default_tenant.behaviours.limits.take_write(client_id)

    def write_limit_use(self, client_id):
        return self.default_tenant.behaviours.limits.write_limit_use(client_id)

    def throttle_headers(self, client_id, refused=False):
        return self.default_tenant.behaviours.limits.throttle_headers(client_id, self.tenant_id, refused)

    def take_fault(self, method, path, body=b"", photo_read=False):
        return self.default_tenant.behaviours.limits.take_fault(method, path, body, photo_read)

    def find_user(self, key):
        return self.default_tenant.find_user(key)

    def all_users(self):
        return self.default_tenant.all_users()

    def users_page(self, after, top):
        return self.default_tenant.users_page(after, top)

    def add_users(self, specs):
        return self.default_tenant.add_users(specs)

    def generate_users(self, count, domain=None, prefix="user", photo_ratio=0.0, photo_size=96):
        return self.default_tenant.generate_users(count, domain, prefix, photo_ratio, photo_size)

    def delete_user(self, key):
        return self.default_tenant.delete_user(key)

    def set_photo(self, owner, photo, propagate=True):
        self.default_tenant.set_photo(owner, photo, propagate)

    # ----------------------------------------------------------------- apps and tokens

    def register_client(self, spec, tenant=None) -> Client:
        """Register (or replace) an app and consent it, with its roles, in `tenant` (the default one when None)."""
        client = client_from_spec(spec)
        tenant = tenant or self.default_tenant
        self.apps.put_client(client)
        # consent_default False: the consent is a record of its own (a 1.0.0 client record also consented the app in the
        # default tenant, which would leak an app registered in another tenant into the default one on a restart).
        self._write([dict(records.client_record(client_spec(client)), consent_default=False)])
        tenant.consent(client.client_id, client.roles)
        return client

    def get_client(self, client_id):
        return self.apps.get_client(client_id)

    def find_identity(self, client_id=None, object_id=None, resource_id=None):
        return self.apps.find_identity(client_id, object_id, resource_id)

    def issue_token(self, kind, client_id, resource, ttl, roles=(), scopes=(), user_id=None, tenant=None):
        """Mint an opaque access token in `tenant` (the default one when None); returns (token string, Token)."""
        tenant_id = (tenant or self.default_tenant).id
        return self.apps.issue_token(tenant_id, kind, client_id, resource, ttl, roles, scopes, user_id)

    def knows_resource(self, resource, tenant=None) -> bool:
        """Whether a token may be issued for this resource: one of KNOWN_RESOURCES, or one an audience behaviour names."""
        behaviours = (tenant or self.default_tenant).behaviours.values
        known = set(KNOWN_RESOURCES) | set(behaviours["graph_audiences"]) | set(behaviours["outlook_audiences"])
        return normalize_resource(resource).lower() in {item.lower() for item in known}

    def lookup_token(self, value) -> Token | None:
        return self.apps.lookup_token(value)

    def revoke_tokens(self) -> int:
        return self.apps.revoke_tokens()

    def expire_tokens(self) -> int:
        return self.apps.expire_tokens()

    # ----------------------------------------------------------------- request log

    def record(self, req, resp):
        self.log.record(req, resp)

    def requests_since(self, since=0, tenant=None):
        return self.log.since(since, tenant)

    def clear_log(self):
        self.log.clear()

    # ----------------------------------------------------------------- persistence (run.py start --persist)

    def _write(self, items):
        if self._journal is not None:
            self._journal.append_tenant(list(items))

    def _snapshot(self):
        """Records that rebuild the whole state, tenant by tenant (the journal's compacted form)."""
        out = [{"op": "meta", "identity_header": self.identity_header}]
        out.extend(dict(records.client_record(client_spec(client)), consent_default=False) for client in self.apps.clients())
        for tenant in self.tenants():
            if not tenant.default:
                out.append(records.tenant_record(tenant))
            grants = tenant.view()["consents"]
            out.extend({"op": "consent", "tenant": tenant.id, "client_id": grant["client_id"], "roles": grant["roles"]} for grant in grants)
            if tenant.default:
                out.extend(self._seed_removals(tenant, grants))
            out.extend(records.user_record(user, tenant.id) for user in tenant.all_users())
            out.extend(records.group_record(group, tenant.id) for group in tenant.all_groups())
            out.append({"op": "policy", "tenant": tenant.id, "policy": dict(tenant.photo_policy)})
        return out

    @staticmethod
    def _seed_removals(tenant, grants):
        """reset() seeds the default tenant and consents the default apps there before a replay: the records that keep
        a seeded user or group deleted, and a default app's consent withdrawn, once the journal is compacted."""
        users = {user.id.lower() for user in tenant.all_users()}
        groups = {group.id.lower() for group in tenant.all_groups()}
        granted = {grant["client_id"].lower() for grant in grants}
        out = [{"op": "delete_user", "tenant": tenant.id, "id": seed[0]} for seed in DEFAULT_USERS if seed[0].lower() not in users]
        out.extend({"op": "delete_group", "tenant": tenant.id, "id": seed[0]} for seed in DEFAULT_GROUPS if seed[0].lower() not in groups)
        out.extend({"op": "withdraw", "tenant": tenant.id, "client_id": spec["client_id"]} for spec in DEFAULT_CLIENTS
                   if spec["client_id"].lower() not in granted)
        return out

    def attach_journal(self, journal):
        """Load what `journal` holds (tenants and request log), compact it, then write every change through to it."""
        self._replay(journal.tenant_records())
        self.log.load(journal.request_entries(), self.tenant_id)  # 1.0.0's entries name no tenant: they are the default one's
        journal.rewrite_tenant(self._snapshot())
        journal.open()
        self._journal = journal
        self.log.attach(journal)

    def detach_journal(self):
        journal, self._journal = self._journal, None
        self.log.detach()
        if journal is not None:
            journal.close()

    def _replay(self, items):
        """Apply journal records to the freshly reset state. Records that no longer load are skipped, not fatal."""
        for record in items:
            try:
                self._replay_one(record)
            except (KeyError, TypeError, ValueError, AttributeError, images.ImageError):
                continue

    def _replay_one(self, record):
        op = record.get("op")
        if op == "meta" and isinstance(record.get("identity_header"), str):
            self.identity_header = record["identity_header"]
            return
        if op == "tenant":
            if self.tenant(record["tenant"]) is None:
                tenant = self._new_tenant(record["tenant"], record["name"], record["domains"], record.get("profile") or self.start_profile)
                with self._lock:
                    self._tenants[tenant.id.lower()] = tenant
            return
        if op == "client":
            client = client_from_spec(record["spec"])
            self.apps.put_client(client)
            if record.get("consent_default", True):  # 1.0.0's journals: every app was the one tenant's
                self.default_tenant.put_consent(client.client_id, client.roles)
            return
        tenant = self.tenant(record["tenant"]) if record.get("tenant") else self.default_tenant
        if tenant is None:
            return
        if op == "delete_tenant":
            self.delete_tenant(tenant.id)
        elif op == "reset":  # older journals: the users were dropped
            for user in tenant.all_users():
                tenant.users.remove(user)
        elif op == "user":
            tenant.put_user(records.user_from_record(record))
        elif op == "group":
            tenant.put_group(records.group_from_record(record))
        elif op == "photo":
            index = tenant.groups if record.get("kind") == "group" else tenant.users
            owner = index.by_id(str(record["id"]))
            if owner is not None:
                owner.photo = records.photo_from_record(record.get("photo"))
        elif op in ("delete_user", "delete_group"):
            index = tenant.users if op == "delete_user" else tenant.groups
            owner = index.by_id(str(record["id"]))
            if owner is not None:
                index.remove(owner)
        elif op == "consent":
            tenant.put_consent(record["client_id"], record["roles"])
        elif op == "withdraw":
            tenant.withdraw_consent(record["client_id"])
        elif op == "policy":
            tenant.photo_policy.update(check_policy(record["policy"]))
