# SPDX-License-Identifier: GPL-3.0-or-later
"""The README's commands work as written: part of `make release-check` (tests/release/check.sh).

    python readme_check.py --bin VENV_BIN --installed INSTALLED_COLLECTION --repo REPO --work WORK_DIR

It reads the README.md of the installed collection (what Galaxy shows) and checks:
- every link is absolute (https) or an anchor of the page; a link into this project's GitHub tree names a file or
  folder that exists in the repository;
- each code block marked `<!-- readme-check: NAME -->`:
  - requirements: a requirements.yml that asks for this collection in a range holding its version;
  - pip: the file it installs exists in the installed collection, at the path it names below ansible_collections;
  - quickstart + quickstart-run: the playbook, saved as photos.yml in a project directory outside the repository,
    run with each ansible-playbook line of the run block, the credentials in the environment variables the block
    exports, against the installed emulator: the check run writes nothing, the run writes the photo once, a run
    after it is ok and writes nothing (proven from the emulator's request log);
  - emulator: the playbook runs as written with the role o365.outlook.emulator and sets the photo;
  - make: each `make TARGET` line names a target of the repository's Makefile (`make -n`).
What cannot be tried here: `ansible-galaxy collection install o365.outlook` (no Galaxy on this network; the
requirements block is checked against the version instead), and a real tenant.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

PROJECT_URL = "https://github.com/o365-outlook/o365.outlook/"
MARKED_BLOCK = re.compile(r"<!-- readme-check: ([a-z-]+) -->\n```(\w+)\n(.*?)```", re.S)
LINK = re.compile(r"\]\(([^)\s]+)\)")
WRITES = ("PUT", "PATCH", "DELETE")
EXPECTED_BLOCKS = {"requirements", "pip", "quickstart", "quickstart-run", "emulator", "make"}


class ReadmeError(Exception):
    pass


def fail_unless(condition: bool, message: str) -> None:
    if not condition:
        raise ReadmeError(message)


def marked_blocks(readme: str) -> dict[str, str]:
    blocks = {}
    for name, _language, body in MARKED_BLOCK.findall(readme):
        fail_unless(name not in blocks, "two README blocks are marked %s" % name)
        blocks[name] = body
    fail_unless(set(blocks) == EXPECTED_BLOCKS, "README blocks marked %s, expected %s" % (sorted(blocks), sorted(EXPECTED_BLOCKS)))
    return blocks


def anchors(readme: str) -> set[str]:
    """GitHub's and Galaxy's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.+)$", readme, re.M)}


def check_links(readme: str, repo: str) -> int:
    links = LINK.findall(readme)
    fail_unless(links, "the README has no links")
    for url in links:
        if url.startswith("#"):
            fail_unless(url[1:] in anchors(readme), "the README links to #%s, which is no heading" % url[1:])
            continue
        fail_unless(url.startswith("https://"), "the README link %s is not absolute: Galaxy shows it broken" % url)
        match = re.match(re.escape(PROJECT_URL) + r"(?:blob|tree)/main/(.+)$", url)
        if match:
            fail_unless(os.path.exists(os.path.join(repo, match.group(1))),
                        "the README links to %s, which is not in the repository" % match.group(1))
    return len(links)


def check_requirements(block: str, manifest: dict, python: str) -> None:
    info = manifest["collection_info"]
    wanted = "%s.%s" % (info["namespace"], info["name"])
    collections = yaml.safe_load(block)["collections"]
    fail_unless([entry["name"] for entry in collections] == [wanted], "requirements.yml does not ask for %s" % wanted)
    spec = collections[0]["version"]
    # ansible-galaxy's own reading of a version range, in the venv that has ansible-core
    meets = subprocess.run(
        [python, "-c", "import sys\nfrom ansible.galaxy.dependency_resolution.versioning import meets_requirements\n"
                       "sys.exit(0 if meets_requirements(sys.argv[1], sys.argv[2]) else 1)", info["version"], spec],
        check=False)
    fail_unless(meets.returncode == 0, "requirements.yml asks for %s, which excludes version %s" % (spec, info["version"]))


def check_pip(block: str, installed: str) -> None:
    words = shlex.split(block.strip())
    fail_unless(words[:5] == ["python3", "-m", "pip", "install", "-r"] and len(words) == 6, "unexpected pip line: %s" % block)
    below = words[5].split("/ansible_collections/", 1)
    fail_unless(len(below) == 2, "the pip line names no path below ansible_collections/: %s" % words[5])
    collections_root = installed[:installed.rindex("/ansible_collections/")]
    path = os.path.join(collections_root, "ansible_collections", below[1])
    fail_unless(os.path.isfile(path), "the pip line installs %s, which the installed collection lacks" % below[1])
    with open(path, encoding="utf-8") as handle:
        packages = {re.split(r"[<>=!~ ]", line.strip(), 1)[0].lower() for line in handle if line.strip() and not line.startswith("#")}
    fail_unless({"requests", "msal"} <= packages, "%s does not list requests and msal" % below[1])


class Emulator:
    """The installed emulator, started in the background and stopped by its own command."""

    def __init__(self, python: str, installed: str, state_dir: str):
        self.command = [python, os.path.join(installed, "tests", "emulator", "run.py")]
        self.state_dir = state_dir
        self.info: dict = {}

    def __enter__(self) -> Emulator:
        started = subprocess.run(self.command + ["start", "--background", "--state-dir", self.state_dir],
                                 check=True, capture_output=True, text=True)
        self.info = json.loads(started.stdout.strip().splitlines()[-1])
        self.context = ssl.create_default_context(cafile=self.info["ca_path"])
        return self

    def __exit__(self, *exc) -> None:
        subprocess.run(self.command + ["stop", "--state-dir", self.state_dir], check=False, capture_output=True)

    def control(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.info["control_url"] + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=self.context, timeout=30) as answer:  # nosec - the local emulator
            return json.load(answer)

    def requests_since(self, seq: int) -> list[dict]:
        return self.control("GET", "/requests?since=%d" % seq)["requests"]

    def last_seq(self) -> int:
        return self.control("GET", "/requests?since=0")["last_seq"]


def run_playbook(words: list[str], project: str, env: dict) -> str:
    result = subprocess.run(words, cwd=project, env=env, capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    fail_unless(result.returncode == 0, "`%s` failed (exit %d):\n%s" % (" ".join(words), result.returncode, output))
    return output


def recap(output: str) -> dict[str, int]:
    line = re.search(r"^localhost\s+:\s+(.+)$", output, re.M)
    fail_unless(line is not None, "no PLAY RECAP line for localhost in:\n%s" % output)
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line.group(1))}


def playbook_lines(run_block: str) -> tuple[list[str], list[list[str]]]:
    """The variables the block exports, and each ansible-playbook command line."""
    exported, commands = [], []
    for line in run_block.strip().splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == "export":
            exported += [word.split("=", 1)[0] for word in words[1:]]
        elif words:
            fail_unless(words[0] == "ansible-playbook", "unexpected line in the quick start: %s" % line)
            commands.append(words)
    return exported, commands


def check_quickstart(blocks: dict[str, str], emulator: Emulator, project: str, env: dict, photo: str) -> str:
    playbook = yaml.safe_load(blocks["quickstart"])
    task = playbook[0]["tasks"][0]["o365.outlook.outlook_user_photo"]
    user, src = task["user"], task["src"]
    exported, commands = playbook_lines(blocks["quickstart-run"])
    fail_unless(exported == ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"],
                "the quick start exports %s" % exported)
    fail_unless([words[1:2] for words in commands] == [["photos.yml"]] * 2,
                "the quick start does not run photos.yml twice (check, then for real)")
    fail_unless("--check" in commands[0] and "--check" not in commands[1], "the quick start does not preview first")

    with open(os.path.join(project, "photos.yml"), "w", encoding="utf-8") as handle:
        handle.write(blocks["quickstart"])
    os.makedirs(os.path.join(project, os.path.dirname(src)), exist_ok=True)
    shutil.copyfile(photo, os.path.join(project, src))
    emulator.control("POST", "/users", {"users": [{"userPrincipalName": user, "displayName": "Adele Vance"}]})
    info = emulator.info
    credentials = dict(env, AZURE_TENANT_ID=info["tenant_id"], AZURE_CLIENT_ID="11111111-1111-4111-8111-111111111111",
                       AZURE_CLIENT_SECRET="emulator-secret-value", AZURE_AUTHORITY_HOST=info["authority_host"],
                       O365_API_URL=info["graph_url"], REQUESTS_CA_BUNDLE=info["ca_path"])

    outcomes = []
    for words in commands + [commands[1]]:  # the preview, the run, and the run again
        seq = emulator.last_seq()
        output = run_playbook(words, project, credentials)
        writes = [entry for entry in emulator.requests_since(seq) if entry["method"] in WRITES and entry["api"] == "graph"]
        outcomes.append((recap(output), len(writes)))
        # the service shows a write only after its propagation delay (the production profile's assumption)
        time.sleep(float(emulator.control("GET", "/behaviours")["propagation_delay_s"]) + 0.5)
    (preview, preview_writes), (first, first_writes), (again, again_writes) = outcomes
    fail_unless(preview["changed"] == 1 and preview_writes == 0, "the --check run: %s, %d writes" % (preview, preview_writes))
    fail_unless(first["changed"] == 1 and first_writes == 1, "the first run: %s, %d writes" % (first, first_writes))
    fail_unless(again["changed"] == 0 and again["failed"] == 0 and again_writes == 0,
                "the run after it: %s, %d writes" % (again, again_writes))
    stored = emulator.control("GET", "/users/" + urllib.request.quote(user, safe=""))
    fail_unless(stored["has_photo"], "%s has no photo after the quick start" % user)
    return "quick start: --check changed 1 with 0 writes; run changed 1 with 1 write; run again ok with 0 writes"


def check_emulator_playbook(block: str, project: str, env: dict) -> str:
    with open(os.path.join(project, "emulator.yml"), "w", encoding="utf-8") as handle:
        handle.write(block)
    result = recap(run_playbook(["ansible-playbook", "emulator.yml"], project, env))
    fail_unless(result["failed"] == 0 and result["changed"] >= 1, "the emulator playbook: %s" % result)
    return "emulator playbook: %s" % result


def check_make(block: str, repo: str) -> list[str]:
    targets = []
    for line in block.strip().splitlines():
        words = shlex.split(line, comments=True)
        fail_unless(words[:1] == ["make"] and len(words) == 2, "unexpected line in the make block: %s" % line)
        dry_run = subprocess.run(["make", "-n", "-C", repo, words[1]], capture_output=True, text=True, check=False)
        fail_unless(dry_run.returncode == 0, "`make %s` is no target of the Makefile: %s" % (words[1], dry_run.stderr))
        targets.append(words[1])
    return targets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="the venv's bin directory (python, ansible-playbook)")
    parser.add_argument("--installed", required=True, help="the installed collection's directory")
    parser.add_argument("--repo", required=True)
    parser.add_argument("--work", required=True, help="a directory for the emulator's state")
    args = parser.parse_args()

    with open(os.path.join(args.installed, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    with open(os.path.join(args.installed, "MANIFEST.json"), encoding="utf-8") as handle:
        manifest = json.load(handle)
    python = os.path.join(args.bin, "python")
    try:
        blocks = marked_blocks(readme)
        print("readme-check: %d links, all absolute, every file they name exists" % check_links(readme, args.repo))
        check_requirements(blocks["requirements"], manifest, python)
        check_pip(blocks["pip"], args.installed)
        print("readme-check: requirements.yml and the pip line fit the installed collection")
        print("readme-check: make targets %s exist" % ", ".join(check_make(blocks["make"], args.repo)))
        project = tempfile.mkdtemp(prefix="o365-outlook-readme.")
        try:
            env = {key: value for key, value in os.environ.items() if not key.startswith(("AZURE_", "O365_", "REQUESTS_CA"))}
            env.update(PATH=args.bin + os.pathsep + env.get("PATH", ""), ANSIBLE_STDOUT_CALLBACK="default",
                       ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
            photo = os.path.join(args.installed, "examples", "files", "adele.jpg")
            with Emulator(python, args.installed, os.path.join(args.work, "readme-emulator")) as emulator:
                print("readme-check: " + check_quickstart(blocks, emulator, project, env, photo))
            print("readme-check: " + check_emulator_playbook(blocks["emulator"], project, env))
        finally:
            shutil.rmtree(project, ignore_errors=True)
    except ReadmeError as error:
        print("readme-check: FAILED: %s" % error, file=sys.stderr)
        return 1
    print("readme-check: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
