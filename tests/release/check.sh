#!/usr/bin/env bash
# The release as Galaxy and Automation Hub see it: `make release-check`.
#  1. builds the collection tarball with ansible-galaxy from the collection copy, prints its file count and size, and
#     checks that it holds what users need and nothing from test runs, venvs or caches (galaxy.yml's build_ignore);
#  2. runs galaxy-importer on it with tests/release/galaxy-importer.cfg (ansible-doc, ansible-lint, metadata, changelog,
#     tags; not ansible-test, which would need a container engine): any WARNING or ERROR line fails the check;
#  3. installs it with ansible-galaxy into an empty collections path;
#  4. runs the demo from the installed copy, in a directory outside the repository, with only that path in
#     ANSIBLE_COLLECTIONS_PATH: the installed tests/utils/with_emulator.sh starts the installed emulator, and the
#     installed examples/demo.yml sets a photo twice (changed, then ok with no write sent);
#  5. checks the installed README's links and runs its commands as written (tests/release/readme_check.py).
# Usage: tests/release/check.sh VENV_BIN_DIR IMPORTER_BIN_DIR COLLECTION_COPY WORK_DIR
#   VENV_BIN_DIR      directory holding python, ansible-galaxy, ansible-doc and ansible-playbook (.venv/bin)
#   IMPORTER_BIN_DIR  bin directory of a venv with galaxy-importer (the Makefile's $(BUILD)/importer-venv/bin)
#   COLLECTION_COPY   the collection to build ($(BUILD)/collections/ansible_collections/o365/outlook)
#   WORK_DIR          emptied, then holds the tarball (dist/), its file list (files.txt), the importer's log and
#                     result (importer/), the install (collections/) and the demo's emulator state (demo-emulator/)
set -euo pipefail

if [[ $# -ne 4 || ! -x "$1/ansible-playbook" || ! -x "$2/python" || ! -f "$3/galaxy.yml" ]]; then
    echo "usage: $0 VENV_BIN_DIR IMPORTER_BIN_DIR COLLECTION_COPY WORK_DIR" >&2
    exit 2
fi
bin=$(cd "$1" && pwd)
importer_bin=$(cd "$2" && pwd)
collection=$(cd "$3" && pwd)
work=$4
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
started=$SECONDS

fail() {
    echo "release-check: FAILED: $*" >&2
    exit 1
}

# shellcheck source=../utils/installed_tarball.sh
source "$repo/tests/utils/installed_tarball.sh"
rm -rf "$work"
mkdir -p "$work/importer"
work=$(cd "$work" && pwd -P)
project=$(new_project_outside_repository release "$repo")
# shellcheck disable=SC2064  # the path is fixed now, on purpose
trap "rm -rf '$project'" EXIT
install=$work/collections
isolate_from_repository "$install"

tarball=$(build_tarball "$bin" "$collection" "$work/dist")
tar -tvzf "$tarball" | awk '$1 ~ /^-/ {print $NF}' | sort >"$work/files.txt"
file_count=$(wc -l <"$work/files.txt")
size=$(wc -c <"$tarball")
echo "tarball $(basename "$tarball"): $file_count files, $size bytes ($(((size + 512) / 1024)) KB); list in $work/files.txt"
for path in LICENSE README.md MANIFEST.json FILES.json meta/runtime.yml changelogs/changelog.yaml examples/demo.yml \
    tests/utils/with_emulator.sh tests/emulator/run.py roles/emulator/tasks/main.yml; do
    grep -qx "$path" "$work/files.txt" || fail "the tarball lacks $path"
done
# Debris of test runs, venvs, caches and repository-only files (galaxy.yml's build_ignore keeps them out).
debris='(^|/)(__pycache__|\.pytest_cache|\.hypothesis|\.ansible|\.mypy_cache|\.ruff_cache|\.tox|\.git|\.github)(/|$)'
debris+='|^(\.venv|venv[^/]*|\.build|build|dist|\.ci|tests/output)(/|$)|\.pyc$|\.tar\.gz$|^importer_result\.json$'
debris+='|^(tests/integration/inventory|tests/integration/integration_config\.yml|changelogs/\.plugin-cache\.yaml)$'
debris+='|^(requirements\.txt|Makefile|\.gitignore)$'
debris+='|^tests/(bench|matrix|release|docs|fault_matrix|installed|emulator_clients)/'
if grep -E "$debris" "$work/files.txt"; then
    fail "the tarball holds the files above: add them to build_ignore in galaxy.yml"
fi

echo "== galaxy-importer $("$importer_bin/python" -c 'from importlib.metadata import version; print(version("galaxy-importer"))')"
status=0
(
    cd "$work/importer"
    GALAXY_IMPORTER_CONFIG=$here/galaxy-importer.cfg PATH="$importer_bin:$PATH" \
        "$importer_bin/python" -m galaxy_importer.main "$tarball"
) >"$work/importer/importer.log" 2>&1 || status=$?
cat "$work/importer/importer.log"
[[ $status -eq 0 ]] || fail "galaxy-importer exited with status $status"
grep -qx 'Importer processing completed successfully' "$work/importer/importer.log" \
    || fail "galaxy-importer did not report a successful import"
if grep -E '^(WARNING|ERROR|CRITICAL)' "$work/importer/importer.log"; then
    fail "galaxy-importer reported the warnings or errors above"
fi
"$bin/python" - "$work/importer/importer_result.json" <<'EOF'
import json, sys
result = json.load(open(sys.argv[1]))
print("galaxy-importer: no warning; %d contents, requires_ansible %s, license %s"
      % (len(result["contents"]), result["requires_ansible"], ", ".join(result["metadata"]["license"])))
EOF

installed=$(install_tarball "$bin" "$tarball" "$install")

echo "== the demo from the installed copy, in $project"
(
    cd "$project"
    bash "$installed/tests/utils/with_emulator.sh" "$work/demo-emulator" "$bin/python" -- \
        env PATH="$bin:$PATH" ANSIBLE_STDOUT_CALLBACK=default ANSIBLE_LOCALHOST_WARNING=false \
        ANSIBLE_INVENTORY_UNPARSED_WARNING=false "$bin/ansible-playbook" "$installed/examples/demo.yml"
)

echo "== the README's commands, from the installed copy"
"$bin/python" "$here/readme_check.py" --bin "$bin" --installed "$installed" --repo "$repo" --work "$work"

echo "release-check: passed in $((SECONDS - started)) s ($(basename "$tarball"): $file_count files, $size bytes;" \
    "galaxy-importer without warnings; the demo and the README's commands from the installed copy)"
