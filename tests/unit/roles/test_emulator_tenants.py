# SPDX-License-Identifier: GPL-3.0-or-later
"""The emulator role seeds tenants, groups and photo policies, and sets facts per tenant (issue 19 part 5).

Runs emulator_tenants.yml with ansible-playbook -v in a subprocess, against this copy of the collection, as
test_emulator_no_log.py does. The playbook checks the refused inputs and their messages, then the facts and the
emulator's state (control API, each tenant's token endpoint, a module on the second tenant's facts); its asserts
fail the run. Here: the run passed, every part of it ran, the summary names the tenants, and the multi-tenant app's
secret is nowhere in the output. About 20 s.
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
COLLECTION = HERE.parents[2]  # .../ansible_collections/o365/outlook
COLLECTIONS_ROOT = COLLECTION.parents[2]
# Tasks of the playbook that must have run (a test that shows nothing proves nothing).
CHECKS = ("The role named the tenant and the app", "The role named both problems",
          "The role stopped the emulator and said why", "One entry per tenant; the default tenant's are the 1.0.0 facts",
          "Both tenants, each with its users, groups, consents, profile and photo policy",
          "The groups, with their Teams and photos, in the tenant they were given for",
          "Each token sees its own tenant's groups only",
          "The module signed in to the second tenant and found its user's photo", "The stop forgot the facts")

pytestmark = pytest.mark.skipif(COLLECTION.parents[1].name != "ansible_collections",
                                reason="needs the collection in an ansible_collections/o365/outlook directory")


def make_photo(path):
    from PIL import Image  # the modules need Pillow in this Python anyway

    Image.new("RGB", (96, 96), (30, 120, 200)).save(path, "JPEG", quality=80)


def play(work, secret):
    photo = work / "team.jpg"
    make_photo(photo)
    extra = work / "extra.json"
    extra.write_text(json.dumps({"tenants_photo": str(photo), "tenants_secret": secret}))
    # Only our settings: none of the caller's ANSIBLE_* (ansible-test sets some), no ansible.cfg (cwd is empty).
    env = {name: value for name, value in os.environ.items() if not name.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_ROOT), ANSIBLE_HOME=str(work / "home"),
               ANSIBLE_LOCAL_TEMP=str(work / "tmp"), ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_RETRY_FILES_ENABLED="false", ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")
    done = subprocess.run([sys.executable, "-m", "ansible.cli.playbook", "-v", str(HERE / "emulator_tenants.yml"),
                           "-e", "@" + str(extra)],
                          cwd=str(work), env=env, capture_output=True, text=True, timeout=180, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    return output


def test_the_role_seeds_tenants_and_sets_their_facts(tmp_path):
    """One playbook run for every check (ansible-test spreads tests over workers: one test, one run)."""
    secret = "tenant-app-" + secrets.token_urlsafe(18)
    output = play(tmp_path, secret)
    problems = ["task %r did not run" % name for name in CHECKS if "%s] " % name not in output]
    if "1 more tenant: fabrikam (1 users, 2 groups, 2 apps, its photo policy set)" not in " ".join(output.split()):
        problems.append("the role's summary does not describe the second tenant")
    if secret in output or secret[-12:] in output:
        problems.append("the multi-tenant app's secret shows in the output")
    assert not problems, problems
