#!/usr/bin/env bash
# Sourced by tests/installed/run.sh and tests/release/check.sh: the collection as a user gets it, built into a
# tarball, installed into an empty collections path and used from a project directory outside the repository.
# The caller sets bin (a venv's bin directory), collection (the copy to build), work (an absolute, empty directory)
# and repo, and defines fail MESSAGE.

# Nothing from the caller's Ansible settings or Python path may point back at the repository; only the install counts.
isolate_from_repository() {
    local name
    while IFS= read -r name; do
        unset "$name"
    done < <(compgen -e | grep -E '^(ANSIBLE_|PYTHONPATH$)' || true)
    install=$work/collections
    mkdir -p "$install"
    export ANSIBLE_COLLECTIONS_PATH=$install
}

# project: a new directory outside the repository, removed when the script exits.
make_project_outside_repository() {
    project=$(mktemp -d "${TMPDIR:-/tmp}/o365-outlook-$1.XXXXXX")
    # shellcheck disable=SC2064  # the path is fixed now, on purpose
    trap "rm -rf '$project'" EXIT
    project=$(cd "$project" && pwd -P)
    case $project/ in
        "$repo"/*) fail "the project directory $project is inside the repository" ;;
    esac
}

# tarball: the collection built with ansible-galaxy into $work/dist.
build_tarball() {
    echo "== ansible-galaxy collection build"
    "$bin/ansible-galaxy" collection build "$collection" --output-path "$work/dist"
    local tarballs=("$work"/dist/o365-outlook-*.tar.gz)
    tarball=${tarballs[0]}
    [[ -f $tarball ]] || fail "ansible-galaxy built no o365-outlook-*.tar.gz"
}

# installed: the tarball installed into the empty $install; the modules must resolve there and nowhere else.
install_tarball() {
    echo "== ansible-galaxy collection install into the empty path $install"
    "$bin/ansible-galaxy" collection install --offline "$tarball" -p "$install"
    installed=$install/ansible_collections/o365/outlook
    [[ -f $installed/MANIFEST.json ]] || fail "no MANIFEST.json in $installed: not installed from a tarball"
    local plugin_files
    plugin_files=$("$bin/ansible-doc" -t module -F o365.outlook)
    [[ -n $plugin_files ]] || fail "ansible-doc lists no module of o365.outlook"
    if grep -v "$installed/" <<<"$plugin_files"; then
        fail "ansible-doc finds the modules above outside $installed"
    fi
}
