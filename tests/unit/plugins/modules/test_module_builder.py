# SPDX-License-Identifier: GPL-3.0-or-later
"""The module builder: each module is its option groups plus its own options, documented by the groups' doc fragments."""
from __future__ import annotations

import importlib

import pytest
import yaml

from ansible_collections.o365.outlook.plugins.module_utils.common._errors import UsersFailed
from ansible_collections.o365.outlook.plugins.module_utils.module._auth_options import AuthOptions
from ansible_collections.o365.outlook.plugins.module_utils.module._connection_options import ConnectionOptions
from ansible_collections.o365.outlook.plugins.module_utils.module._many_users_options import ManyUsersOptions, ManyUsersRun
from ansible_collections.o365.outlook.plugins.module_utils.module._options import OptionGroup, merged_spec, secret_options
from ansible_collections.o365.outlook.plugins.module_utils.module._outlook_module import OutlookModule
from ansible_collections.o365.outlook.plugins.module_utils.module._photo_policy_options import PhotoPolicyOptions
from ansible_collections.o365.outlook.plugins.modules import (outlook_group_photo, outlook_photo_update_settings, outlook_user_photo,
                                                              outlook_user_photo_info, outlook_user_photo_sync)

MODULES = [outlook_user_photo, outlook_user_photo_info, outlook_user_photo_sync, outlook_group_photo, outlook_photo_update_settings]


def documented_options(module):
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = set(doc.get("options") or {})
    for fragment in doc["extends_documentation_fragment"]:
        name = fragment.split(".")[-1]
        fragment_doc = importlib.import_module("ansible_collections.o365.outlook.plugins.doc_fragments." + name).ModuleDocFragment.DOCUMENTATION
        options |= set(yaml.safe_load(fragment_doc).get("options") or {})
    return options, doc["extends_documentation_fragment"]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_documentation_matches_the_spec_and_extends_each_groups_fragment(module):
    options, fragments = documented_options(module)
    assert options == set(module.MODULE.argument_spec())
    assert set(module.MODULE.doc_fragments()) <= set(fragments)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_secrets_are_the_no_log_options(module):
    assert sorted(secret_options(module.MODULE.argument_spec())) == ["access_token", "client_certificate_password", "client_secret"]


@pytest.mark.parametrize("groups", [(), (ConnectionOptions(),), (AuthOptions(), ConnectionOptions())])
def test_a_module_needs_connection_then_auth(groups):
    with pytest.raises(ValueError, match="ConnectionOptions, then AuthOptions"):
        OutlookModule(groups=groups)


def test_an_option_defined_twice_is_refused():
    with pytest.raises(ValueError, match="options defined twice: timeout"):
        merged_spec((ConnectionOptions(),), dict(timeout=dict(type="int")))


def test_groups_own_their_options():
    assert set(PhotoPolicyOptions(wait=False).options()) == {"compare", "pixel_tolerance", "only_if_missing", "backup_dir", "convert",
                                                             "crop", "max_dimension", "min_dimension"}
    assert set(PhotoPolicyOptions().options()) - set(PhotoPolicyOptions(wait=False).options()) == {"wait", "wait_timeout"}
    assert set(ManyUsersOptions().options()) == {"parallelism", "fail_on_error", "run_timeout"}
    assert set(ManyUsersOptions(results=True).options()) == {"parallelism", "fail_on_error", "run_timeout", "results"}
    assert all(isinstance(group, OptionGroup) for group in outlook_user_photo_sync.MODULE.groups)


class _Client:
    class transport:  # noqa: N801 - stands in for the client's transport
        stats = {"requests": 3}


@pytest.mark.parametrize("verb", ["failed", "could not be read"])
def test_one_failure_message_for_every_many_user_module(verb):
    run = ManyUsersRun(4, True, None, verb)
    failed = ["u%02d" % n for n in range(12)]
    with pytest.raises(UsersFailed) as caught:
        run.outcome(_Client(), "photos", [], dict(total=20), failed, [], None)
    assert caught.value.msg == ("12 of 20 users %s: %s and 2 more. See each entry's message; the other users were done."
                                % (verb, ", ".join(failed[:10])))
    assert caught.value.details["failed_users"] == failed and caught.value.details["changed"] is False


def test_outcome_fields_and_stats():
    run = ManyUsersRun(2, False, "all", "failed")
    result = run.outcome(_Client(), "results", [{"user": "a"}], dict(total=1), ["a"], [], None, written=1,
                         extra_stats=dict(seconds=0.5), unmatched_files=["x.txt"])
    assert list(result) == ["changed", "results", "summary", "failed_users", "not_attempted_users", "unmatched_files", "stats"]
    assert result["changed"] is True and result["stats"] == {"requests": 3, "seconds": 0.5, "concurrency_start": 2,
                                                             "concurrency_peak": 2, "concurrency_final": 2}
    assert _Client.transport.stats == {"requests": 3}
    assert run.gate.ceiling == 2


def test_the_sync_gate_grows_from_parallelism_to_max_parallelism_and_the_info_gate_does_not():
    adaptive = ManyUsersRun(8, False, "all", "failed", max_parallelism=64)
    assert (adaptive.gate.start, adaptive.gate.ceiling) == (8, 64)
    fixed = ManyUsersRun(8, False, None, "failed")  # the info module: no max_parallelism
    assert (fixed.gate.start, fixed.gate.ceiling) == (8, 8)
