# SPDX-License-Identifier: GPL-3.0-or-later
"""A module's main() run in-process against the emulator, as a task would run it, and the request log read back."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.common import warnings as ansible_warnings

from .module_args import patch_module_args

WRITES = ("PUT", "PATCH", "DELETE")


class ModuleRuns:
    """run(module, **args): main() with the emulator's connection options and a client secret; the JSON result with the
    exit code as _rc. Every run's raw stdout is kept in stdout, to search for text that must never be printed."""

    def __init__(self, emulator, capfd, tenant_id, client_id, secret, **defaults):
        self.info = emulator.info
        self.capfd = capfd
        self.connection = dict(tenant_id=tenant_id, client_id=client_id, client_secret=secret)
        self.defaults = defaults
        self.stdout = []

    def __call__(self, module, **args):
        info = self.info
        args = dict(self.defaults, **dict(args, **self.connection, authority_host=info["authority_host"],
                                          api_url=info["graph_url"], ca_path=info["ca_path"]))
        # Ansible keeps a module's warnings process-wide; a real task runs in its own process, so each run here starts
        # and ends with none.
        ansible_warnings._global_warnings.clear()  # pylint: disable=protected-access
        try:
            with patch_module_args(args):
                with pytest.raises(SystemExit) as caught:
                    module.main()
        finally:
            ansible_warnings._global_warnings.clear()  # pylint: disable=protected-access
        out = self.capfd.readouterr().out
        self.stdout.append(out)
        result = json.loads(out)
        result["_rc"] = caught.value.code
        return result


def mark(control):
    """The request log's position now."""
    return control("GET", "/requests?since=999999999")["last_seq"]


def requests_since(control, since):
    return control("GET", "/requests?since=%d" % since)["requests"]


def upns_by_id(control):
    return {user["id"].lower(): user["userPrincipalName"].lower() for user in control("GET", "/users")["users"]}


def written_since(control, since):
    """The UPNs (lower case) of the users, and the object ids of the groups, whose photo was written (PUT, PATCH,
    DELETE; direct or in a $batch) since the mark, once per write, sorted; the log names users by object id."""
    upns = upns_by_id(control)
    owners = (entry["user"] or entry["group"] for entry in requests_since(control, since)
              if entry["method"] in WRITES and (entry["user"] or entry["group"]))
    return sorted(upns.get(owner.lower(), owner.lower()) for owner in owners)


def downloads_since(control, since):
    """Photo content reads since the mark: GET of photo/$value or photos/{size}/$value."""
    return [entry for entry in requests_since(control, since) if entry["method"] == "GET" and entry["path"].endswith("$value")]
