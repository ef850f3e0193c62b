#!/usr/bin/env bash
# The emulator role as a user gets it: `make installed-emulator`.
#  1. builds the collection tarball with ansible-galaxy from the collection copy;
#  2. installs it with ansible-galaxy into an empty collections path;
#  3. copies tests/installed/playbook.yml (with its helper process_exited.py, and a photo) into a new project directory
#     outside the repository, and runs it there with ANSIBLE_COLLECTIONS_PATH naming only that install path and no
#     other ANSIBLE_* setting.
# The playbook starts the emulator with the role o365.outlook.emulator, sets and checks a photo, and stops it.
# Proof that only the installed copy is used: ansible-galaxy and ansible-doc resolve o365.outlook to the install path
# only, and the playbook checks that the running emulator's command line is the installed run.py.
# Usage: tests/installed/run.sh VENV_BIN_DIR COLLECTION_COPY WORK_DIR
#   VENV_BIN_DIR     directory holding python, ansible-galaxy, ansible-doc and ansible-playbook (.venv/bin)
#   COLLECTION_COPY  the collection to build (the Makefile's copy in $(BUILD)/collections/ansible_collections/o365/outlook)
#   WORK_DIR         emptied, then holds the tarball (dist/), the install (collections/) and a Python without the
#                    emulator's packages (bare-python/)
set -euo pipefail

if [[ $# -ne 3 || ! -x "$1/ansible-playbook" || ! -f "$2/galaxy.yml" ]]; then
    echo "usage: $0 VENV_BIN_DIR COLLECTION_COPY WORK_DIR" >&2
    exit 2
fi
bin=$(cd "$1" && pwd)
collection=$(cd "$2" && pwd)
work=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
started=$SECONDS

fail() {
    echo "installed-emulator: FAILED: $*" >&2
    exit 1
}

# shellcheck source=../utils/installed_tarball.sh
source "$repo/tests/utils/installed_tarball.sh"
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd -P)
project=$(new_project_outside_repository project "$repo")
# shellcheck disable=SC2064  # the path is fixed now, on purpose
trap "rm -rf '$project'" EXIT
install=$work/collections
isolate_from_repository "$install"
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false ANSIBLE_STDOUT_CALLBACK=default

tarball=$(build_tarball "$bin" "$collection" "$work/dist")
listing=$(tar -tzf "$tarball")
for path in roles/emulator/tasks/main.yml roles/emulator/tasks/stop.yml roles/emulator/meta/argument_specs.yml \
    tests/emulator/run.py tests/emulator/server.py; do
    grep -qx "$path" <<<"$listing" || fail "the tarball lacks $path"
done

installed=$(install_tarball "$bin" "$tarball" "$install")

echo "== where o365.outlook resolves"
"$bin/ansible-galaxy" collection list o365.outlook --format json >"$work/collection-list.json"
"$bin/python" - "$work/collection-list.json" "$install" <<'EOF'
import json, sys
found = {path: names for path, names in json.load(open(sys.argv[1])).items() if "o365.outlook" in names}
expected = sys.argv[2] + "/ansible_collections"
if list(found) != [expected]:
    sys.exit("installed-emulator: FAILED: o365.outlook resolves to %s, not only to %s" % (sorted(found), expected))
print("o365.outlook only in", expected)
EOF
"$bin/ansible-doc" -t role o365.outlook.emulator >/dev/null || fail "ansible-doc does not know the role o365.outlook.emulator"

echo "== a Python without the emulator's packages"
"$bin/python" -m venv --without-pip "$work/bare-python"
if "$work/bare-python/bin/python" -c 'import trustme' 2>/dev/null; then
    fail "$work/bare-python has trustme: the refusal test would prove nothing"
fi

echo "== the playbook, from $project"
cp "$here/playbook.yml" "$here/process_exited.py" "$project/"
mkdir "$project/photos"
# A user's own photos: one for the playbook to set, one the role seeds.
cp "$repo/examples/files/adele.jpg" "$project/photos/ci-tester.jpg"
"$bin/python" -c 'import sys
from PIL import Image
Image.new("RGB", (96, 96), (30, 120, 200)).save(sys.argv[1], "JPEG", quality=90)' "$project/photos/seeded.jpg"
(
    cd "$project"
    PATH="$bin:$PATH" "$bin/ansible-playbook" playbook.yml \
        -e "installed_collection=$installed" -e "installed_bare_python=$work/bare-python/bin/python" \
        -e "installed_repository=$repo"
)

echo "installed-emulator: passed in $((SECONDS - started)) s (tarball $(basename "$tarball"), installed in $install)"
