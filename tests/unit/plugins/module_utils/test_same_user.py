# SPDX-License-Identifier: GPL-3.0-or-later
"""One user, one entry (issue 17 defect 3): a user named by UPN and by object id, with two sources, flipped on every
run. Now both entries fail as named twice, before any photo is written."""
from __future__ import annotations

import pytest

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import GraphError
from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import API_CAPABILITIES, PhotoMetadata
from ansible_collections.o365.outlook.plugins.module_utils.graph._photo_client import UserNotFoundError
from ansible_collections.o365.outlook.plugins.module_utils.many_users._engine import BulkEngine, Job
from ansible_collections.o365.outlook.plugins.module_utils.photo._reconcile import PhotoPolicy
from ansible_collections.o365.outlook.tests.unit.plugins.module_utils.test_bulk import FakeTenant, jpeg

ADELE = "6e3b0cf5-7a54-4a3f-9d3e-1c2b3a4d5e6f"
ALEX = "0b7c1e52-1111-4000-8000-000000000002"
DIRECTORY = {"adele@x": ADELE, "alex@x": ALEX}


class Dialect:
    def __init__(self, name):
        self.name = name
        self.capabilities = API_CAPABILITIES[name]


class Directory(FakeTenant):
    """Photos kept by object id; UPNs resolve through DIRECTORY. Metadata names its owner, as Graph's @odata.id does."""

    def __init__(self, photos, api="graph", id_error=None):
        super().__init__(photos)
        self.dialect = Dialect(api)
        self.id_error = id_error

    @staticmethod
    def owner(user):
        return DIRECTORY.get(user.lower(), user.lower())

    def _meta(self, user):
        if self.owner(user) not in DIRECTORY.values():
            return UserNotFoundError(404, "Request_ResourceNotFound", "user %r was not found" % user)
        meta = super()._meta(self.owner(user))
        if isinstance(meta, PhotoMetadata):
            meta.owner_id = self.owner(user)
        return meta

    def get_content_many(self, users):
        self._record("content_many", tuple(users))
        return {user: self.photos.get(self.owner(user)) for user in users}

    def put_content(self, user, data, content_type):
        super().put_content(self.owner(user), data, content_type)

    def get_object_ids_many(self, users):
        self._record("object_ids_many", tuple(users))
        if self.id_error is not None:
            return {user: self.id_error for user in users}
        return {user: DIRECTORY.get(user.lower()) for user in users}


@pytest.fixture
def sources(tmp_path):
    paths = {}
    for name, color in (("red", (200, 0, 0)), ("blue", (0, 0, 200))):
        paths[name] = tmp_path / (name + ".jpg")
        paths[name].write_bytes(jpeg(color))
    return {name: str(path) for name, path in paths.items()}


def run(tenant, jobs, warnings=None):
    policy = PhotoPolicy(read_after_write=False, warn=(warnings.append if warnings is not None else None))
    engine = BulkEngine(tenant, policy, parallelism=2)
    return engine, engine.run(jobs)


def calls(tenant, kind):
    return [call[1] for call in tenant.calls if call[0] == kind]


@pytest.mark.parametrize("has_photo", [True, False])
def test_regression_one_user_by_upn_and_by_object_id_fails_twice_and_nothing_is_written(sources, has_photo):
    """With a photo, the id comes from the metadata's @odata.id; without one, from GET /users/{key}?$select=id."""
    tenant = Directory({ADELE: open(sources["blue"], "rb").read()} if has_photo else {})
    jobs = [Job("Adele@X", src=sources["red"]), Job(ADELE, src=sources["blue"]), Job("alex@x", src=sources["red"])]
    _engine, results = run(tenant, jobs)
    assert [r["action"] for r in results] == ["failed", "failed", "uploaded"]
    for entry in results[:2]:
        assert "is named twice" in entry["message"] and ADELE in entry["message"]
        assert "Adele@X (present %s)" % sources["red"] in entry["message"] and sources["blue"] in entry["message"]
    assert tenant.writes() == [("put", ALEX)]
    asked = [user for batch in calls(tenant, "object_ids_many") for user in batch]
    assert ("Adele@X" in asked) is not has_photo and "alex@x" in asked   # alex has no photo: asked


def test_an_upn_and_an_absent_entry_by_object_id_are_one_user_too(sources):
    tenant = Directory({ADELE: open(sources["blue"], "rb").read()})
    _engine, results = run(tenant, [Job("adele@x", src=sources["red"]), Job(ADELE.upper(), state="absent")])
    assert [r["action"] for r in results] == ["failed", "failed"] and tenant.writes() == []


def test_a_task_that_names_users_one_way_resolves_nothing(sources):
    tenant = Directory({})
    _engine, results = run(tenant, [Job("adele@x", src=sources["red"]), Job("alex@x", src=sources["blue"])])
    assert [r["action"] for r in results] == ["uploaded", "uploaded"]
    assert calls(tenant, "object_ids_many") == [] and calls(tenant, "metadata_many") == [("adele@x", "alex@x")]


def test_the_metadata_read_to_resolve_is_not_read_again(sources):
    tenant = Directory({ADELE: open(sources["red"], "rb").read(), ALEX: open(sources["red"], "rb").read()})
    _engine, results = run(tenant, [Job("adele@x", src=sources["red"]), Job(ALEX, src=sources["red"])])
    assert [r["action"] for r in results] == ["unchanged", "unchanged"]
    read = [user for batch in calls(tenant, "metadata_many") for user in batch]
    assert sorted(read) == sorted(["adele@x", ALEX])   # each user's metadata once


def test_without_ids_one_warning_and_1_0_0_behaviour(sources):
    denied = GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
    tenant = Directory({}, id_error=denied)
    warnings = []
    _engine, results = run(tenant, [Job("adele@x", src=sources["red"]), Job("alex@x", src=sources["red"]),
                                    Job(ADELE, src=sources["blue"])], warnings)
    assert [r["action"] for r in results] == ["uploaded", "uploaded", "uploaded"]
    assert len(warnings) == 1 and "2 of the users" in warnings[0] and "User.ReadBasic.All" in warnings[0]


def test_the_outlook_api_resolves_from_metadata_only(sources):
    tenant = Directory({ADELE: open(sources["red"], "rb").read()}, api="outlook_v2")
    warnings = []
    _engine, results = run(tenant, [Job("adele@x", src=sources["blue"]), Job(ADELE, src=sources["red"]),
                                    Job("alex@x", src=sources["red"])], warnings)
    assert [r["action"] for r in results] == ["failed", "failed", "uploaded"]
    assert calls(tenant, "object_ids_many") == []
    assert len(warnings) == 1 and "alex@x" in warnings[0] and "outlook_v2" in warnings[0]


def test_an_unknown_upn_is_no_warning_and_fails_on_its_own(sources):
    tenant = Directory({})
    warnings = []
    _engine, results = run(tenant, [Job("ghost@x", src=sources["red"]), Job(ADELE, src=sources["red"])], warnings)
    assert [r["action"] for r in results] == ["failed", "uploaded"] and "was not found" in results[0]["message"]
    assert warnings == []


def test_named_in_several_forms():
    # Imported here, so that the tests above run (and fail) on a tree without _same_user.py (1.0.0).
    from ansible_collections.o365.outlook.plugins.module_utils.many_users._same_user import named_in_several_forms

    assert not named_in_several_forms([Job("a@x"), Job("b@x")])
    assert not named_in_several_forms([Job(ADELE), Job(ALEX)])
    assert named_in_several_forms([Job("a@x"), Job(ALEX)])
    assert not named_in_several_forms([Job("a@x"), Job(ALEX, problem=ValueError("x"))])
