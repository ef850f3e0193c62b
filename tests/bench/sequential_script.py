# SPDX-License-Identifier: GPL-3.0-or-later
"""The script an administrator would write: one user after another, with requests and msal.

For each user: GET the photo metadata, GET the photo if there is one, compare SHA-256 with the file,
PUT the file when it differs. One token and one keep-alive session for the whole run (a fair version
of the usual script). Used by run_bench.py as the sequential baseline.

    python sequential_script.py --jobs jobs.json --graph-url URL --authority-host URL --ca CA.pem
jobs.json: [{"user": "...", "src": "/path/photo.jpg"}, ...]. Prints a JSON summary.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from urllib.parse import quote

import msal
import requests

TENANT = "00000000-0000-4000-8000-00000000c0de"
CLIENT_ID = "11111111-1111-4111-8111-111111111111"
CLIENT_SECRET = "emulator-secret-value"


def get_token(authority_host, session):
    app = msal.ConfidentialClientApplication(CLIENT_ID, client_credential=CLIENT_SECRET, authority=authority_host + "/" + TENANT,
                                             instance_discovery=False, azure_region=False, http_client=session)
    return app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])["access_token"]


class CaSession(requests.Session):
    """The machine exports REQUESTS_CA_BUNDLE, which would override Session.verify."""

    def __init__(self, ca_path):
        super().__init__()
        self.ca_path = ca_path

    def request(self, method, url, *args, **kwargs):  # pylint: disable=arguments-differ
        kwargs["verify"] = self.ca_path
        return super().request(method, url, *args, **kwargs)


def sync_one(session, graph_url, headers, user, src):
    base = "%s/users/%s/photo" % (graph_url, quote(user, safe=""))
    with open(src, "rb") as handle:
        wanted = handle.read()
    meta = session.get(base, headers=headers, timeout=30)
    current = None
    if meta.status_code == 200:
        value = session.get(base + "/$value", headers=headers, timeout=30)
        if value.status_code == 200:
            current = value.content
    elif meta.status_code != 404:
        meta.raise_for_status()
    if current is not None and hashlib.sha256(current).hexdigest() == hashlib.sha256(wanted).hexdigest():
        return "unchanged"
    put = session.put(base + "/$value", data=wanted, headers=dict(headers, **{"Content-Type": "image/jpeg"}), timeout=30)
    put.raise_for_status()
    return "uploaded"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", required=True)
    parser.add_argument("--graph-url", required=True)
    parser.add_argument("--authority-host", required=True)
    parser.add_argument("--ca", required=True)
    args = parser.parse_args()
    with open(args.jobs, encoding="utf-8") as handle:
        jobs = json.load(handle)
    started = time.monotonic()
    session = CaSession(args.ca)
    headers = {"Authorization": "Bearer " + get_token(args.authority_host, session)}
    counts = {}
    for job in jobs:
        action = sync_one(session, args.graph_url, headers, job["user"], job["src"])
        counts[action] = counts.get(action, 0) + 1
    json.dump({"users": len(jobs), "seconds": time.monotonic() - started, "counts": counts}, sys.stdout)


if __name__ == "__main__":
    main()
