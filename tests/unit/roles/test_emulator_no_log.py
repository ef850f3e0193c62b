# SPDX-License-Identifier: GPL-3.0-or-later
"""The emulator role prints no secret, even at -vvv (issue 17 part 6): CI logs are often public.

Runs emulator_no_log.yml with ansible-playbook -vvv in a subprocess, against this copy of the collection, and looks
for the secrets the role handles in the whole output: the two seeded app secrets, the secrets of emulator_apps
(with characters that percent-encoding, JSON and base64 change) and the per-run managed-identity header, each plain,
percent-encoded (upper and lower case), JSON-escaped and base64. The playbook starts the emulator once with a
failing app (the rescue's message) and once to the end, with a module task on the role's facts. About 15 s.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import subprocess
import sys
from urllib.parse import quote, quote_plus

import pytest

HERE = pathlib.Path(__file__).resolve().parent
COLLECTION = HERE.parents[2]  # .../ansible_collections/o365/outlook
COLLECTIONS_ROOT = COLLECTION.parents[2]
SEEDED_SECRETS = ("emulator-secret-value", "emulator-readonly-secret")
APPS = [
    {"client_id": "33333333-3333-4333-8333-333333333333", "secret": "No+Log/Secret=1&x y%41\"q\"<é>"},
    {"client_id": "44444444-4444-4444-8444-444444444444", "secret": "second-app-secret-Qw7Zp2Lk9"},
]
# Tasks that carry a secret: the test fails if they did not run (a test that shows nothing proves nothing).
SECRET_TASKS = ("Start the emulator in the background", "Remember where the emulator answers",
                "Add the app registrations", "Set the connection facts", "Remember why the start failed",
                "A module task on the role's facts")

pytestmark = pytest.mark.skipif(COLLECTION.parents[1].name != "ansible_collections",
                                reason="needs the collection in an ansible_collections/o365/outlook directory")


def forms(secret):
    """The secret as it could show in a log: plain, percent-encoded in either case, JSON-escaped, base64."""
    encoded = quote(secret, safe="")
    found = {secret, encoded, encoded.lower(), quote_plus(secret), json.dumps(secret)[1:-1],
             json.dumps(secret, ensure_ascii=False)[1:-1]}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        found.add(encode(secret.encode()).decode().rstrip("="))
    return found


def runs(secret, length=12):
    """Every run of `length` characters of a secret that is random or ours (not the seeded ones, made of words)."""
    return {secret[start:start + length] for start in range(len(secret) - length + 1)}


def play(work):
    """ansible-playbook -vvv emulator_no_log.yml: (its whole output, the managed-identity header of the second start)."""
    header_file = work / "identity_header"
    extra = work / "extra.json"
    extra.write_text(json.dumps({"no_log_apps": APPS, "no_log_header_file": str(header_file)}))
    # Only our settings: none of the caller's ANSIBLE_* (ansible-test sets some), no ansible.cfg (cwd is empty).
    env = {name: value for name, value in os.environ.items() if not name.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_ROOT), ANSIBLE_HOME=str(work / "home"),
               ANSIBLE_LOCAL_TEMP=str(work / "tmp"), ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_RETRY_FILES_ENABLED="false", ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")
    done = subprocess.run([sys.executable, "-m", "ansible.cli.playbook", "-vvv", str(HERE / "emulator_no_log.yml"),
                           "-e", "@" + str(extra)],
                          cwd=str(work), env=env, capture_output=True, text=True, timeout=120, check=False)
    output = done.stdout + done.stderr
    # The tail, not the whole output: it is what a failed task prints, and the leak checks below never print a form.
    returncode = done.returncode
    assert returncode == 0, output[-3000:]
    return output, header_file.read_text()


def test_the_role_shows_no_secret_at_vvv(tmp_path):
    """One playbook run for every check (ansible-test spreads tests over workers: one test, one run)."""
    output, header = play(tmp_path)
    problems = ["task %r did not run" % name for name in SECRET_TASKS if "%s] " % name not in output]
    if "client_id is required" not in output:
        problems.append("the failed start's message does not say why")
    if len(header) < 16:
        problems.append("no managed-identity header was written")
    secrets = {"seeded secret %d" % number: secret for number, secret in enumerate(SEEDED_SECRETS)}
    secrets.update(("emulator_apps[%d].secret" % number, app["secret"]) for number, app in enumerate(APPS))
    secrets["identity header"] = header
    for name, secret in secrets.items():
        shown = [form for form in forms(secret) if form in output]
        if shown:
            problems.append("%s: %d of its forms show" % (name, len(shown)))
        # Random or ours, so any 12 characters of them are telling (the seeded ones are made of words like "emulator").
        if not name.startswith("seeded"):
            parts = [run for run in runs(secret) if run in output]
            if parts:
                problems.append("%s: %d runs of 12 of its characters show" % (name, len(parts)))
    # Only names and counts: the message never repeats a secret.
    assert not problems, problems
