#!/usr/bin/env bash
# Checks that o365.outlook can go into an execution environment, without a container engine:
#  1. builds the collection tarball with ansible-galaxy;
#  2. `ansible-builder introspect` on the collection copy finds its Python requirements (requests, msal, Pillow, and
#     opencv-python-headless pinned below 5, for crop=face)
#     and system requirements through meta/execution-environment.yml;
#  3. `ansible-builder create` turns tests/ee/execution-environment.yml (staged next to the tarball) into a
#     build context: a Containerfile and the files it copies.
# Usage: tests/ee/check.sh VENV_BIN_DIR [COLLECTIONS_DIR]
#   VENV_BIN_DIR     directory holding ansible-galaxy and ansible-builder (the Makefile passes .venv/bin)
#   COLLECTIONS_DIR  directory holding ansible_collections/o365/outlook (default: .build/collections)
set -euo pipefail

if [[ $# -lt 1 || ! -x "$1/ansible-builder" || ! -x "$1/ansible-galaxy" ]]; then
    echo "usage: $0 VENV_BIN_DIR [COLLECTIONS_DIR] (VENV_BIN_DIR must hold ansible-galaxy and ansible-builder)" >&2
    exit 2
fi
bin=$(cd "$1" && pwd)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
collections=${2:-$root/.build/collections}
collection=$collections/ansible_collections/o365/outlook
if [[ ! -f $collection/galaxy.yml ]]; then
    echo "no collection copy in $collections: run 'make collection' first" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/o365-ee-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

fail() {
    echo "ee-check: FAILED: $*" >&2
    exit 1
}

echo "== ansible-galaxy collection build"
"$bin/ansible-galaxy" collection build "$collection" --output-path "$work/dist"
tarballs=("$work"/dist/o365-outlook-*.tar.gz)
[[ -f ${tarballs[0]} ]] || fail "ansible-galaxy built no o365-outlook-*.tar.gz"
# What goes into the image must not carry build or test debris.
listing=$(tar -tzf "${tarballs[0]}")
for unwanted in .venv/ .build/ tests/output/ .git/; do
    if grep -q "^$unwanted" <<<"$listing"; then
        fail "the tarball contains $unwanted"
    fi
done
grep -qx 'meta/execution-environment.yml' <<<"$listing" || fail "the tarball lacks meta/execution-environment.yml"

echo "== ansible-builder introspect $collections"
"$bin/ansible-builder" introspect --sanitize "$collections" | tee "$work/introspect.txt"
for requirement in requests msal Pillow; do
    grep -Eq "^- '?$requirement([<>=!~ ]|'|$).*from collection o365\.outlook" "$work/introspect.txt" \
        || fail "introspect does not list $requirement for o365.outlook"
done
# OpenCV 5 has no CascadeClassifier and no cascade files: crop=face needs the 4.x line.
grep -Eq "^- '?opencv-python-headless>=4\.8,<5'? +# from collection o365\.outlook" "$work/introspect.txt" \
    || fail "introspect does not list opencv-python-headless>=4.8,<5 for o365.outlook"
grep -q '^system:' "$work/introspect.txt" || fail "introspect lists no system requirements"

echo "== ansible-builder create"
# The definition refers to the tarball by a fixed name next to it: stage both in one directory.
mkdir "$work/ee"
cp "$root/tests/ee/execution-environment.yml" "$work/ee/"
cp "${tarballs[0]}" "$work/ee/o365-outlook.tar.gz"
"$bin/ansible-builder" create -f "$work/ee/execution-environment.yml" -c "$work/context" --output-filename Containerfile

context=$work/context
for path in Containerfile _build/requirements.yml _build/collections/o365-outlook.tar.gz _build/scripts/assemble \
    _build/scripts/introspect.py; do
    [[ -f $context/$path ]] || fail "the build context lacks $path"
done
grep -q 'collections/o365-outlook.tar.gz' "$context/_build/requirements.yml" \
    || fail "_build/requirements.yml does not install the tarball"
grep -q 'ansible-galaxy collection install' "$context/Containerfile" \
    || fail "the Containerfile does not install collections"
grep -q 'introspect' "$context/Containerfile" || fail "the Containerfile does not introspect the collections"
grep -q 'EE_BASE_IMAGE="quay.io/ansible/awx-ee' "$context/Containerfile" || fail "the Containerfile does not use the base image"

echo "ee-check: passed (tarball $(basename "${tarballs[0]}"), introspection, build context)"
