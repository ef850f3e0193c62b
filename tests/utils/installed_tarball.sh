#!/usr/bin/env bash
# Sourced by tests/installed/run.sh and tests/release/check.sh: the collection as a user gets it, built into a
# tarball, installed into an empty collections path and used from a project directory outside the repository.
# Every function takes what it needs as arguments and prints the one path it makes on stdout (its progress goes to
# stderr), so each caller shows where its variables come from. The caller defines fail MESSAGE.

# Nothing from the caller's Ansible settings or Python path may point back at the repository; only INSTALL_DIR counts.
# Runs in the caller's shell (no command substitution): it changes the caller's environment.
isolate_from_repository() {
    local install_dir=$1 name
    while IFS= read -r name; do
        unset "$name"
    done < <(compgen -e | grep -E '^(ANSIBLE_|PYTHONPATH$)' || true)
    mkdir -p "$install_dir"
    export ANSIBLE_COLLECTIONS_PATH=$install_dir
}

# new_project_outside_repository NAME REPO: a new empty directory outside REPO (the caller removes it on exit).
new_project_outside_repository() {
    local name=$1 repo=$2 project
    project=$(mktemp -d "${TMPDIR:-/tmp}/o365-outlook-$name.XXXXXX")
    project=$(cd "$project" && pwd -P)
    case $project/ in
        "$repo"/*) rm -rf "$project"; fail "the project directory $project is inside the repository" ;;
    esac
    echo "$project"
}

# build_tarball BIN COLLECTION DIST: the collection built with ansible-galaxy into DIST; prints the tarball's path.
build_tarball() {
    local bin=$1 collection=$2 dist=$3
    echo "== ansible-galaxy collection build" >&2
    "$bin/ansible-galaxy" collection build "$collection" --output-path "$dist" >&2
    local tarballs=("$dist"/o365-outlook-*.tar.gz)
    [[ -f ${tarballs[0]} ]] || fail "ansible-galaxy built no o365-outlook-*.tar.gz"
    echo "${tarballs[0]}"
}

# install_tarball BIN TARBALL INSTALL_DIR: installs TARBALL into the empty INSTALL_DIR and prints the installed
# collection's path; the modules must resolve there and nowhere else.
install_tarball() {
    local bin=$1 tarball=$2 install_dir=$3
    echo "== ansible-galaxy collection install into the empty path $install_dir" >&2
    "$bin/ansible-galaxy" collection install --offline "$tarball" -p "$install_dir" >&2
    local installed=$install_dir/ansible_collections/o365/outlook
    [[ -f $installed/MANIFEST.json ]] || fail "no MANIFEST.json in $installed: not installed from a tarball"
    local plugin_files
    plugin_files=$("$bin/ansible-doc" -t module -F o365.outlook)
    [[ -n $plugin_files ]] || fail "ansible-doc lists no module of o365.outlook"
    if grep -v "$installed/" <<<"$plugin_files" >&2; then
        fail "ansible-doc finds the modules above outside $installed"
    fi
    echo "$installed"
}
