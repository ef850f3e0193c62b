#!/usr/bin/env bash
# Fast unit-test loop without ansible-test: copies the working tree (tracked and new files) into
# WORK/collections/ansible_collections/o365/outlook and runs pytest there with .venv's Python.
# Usage: tests/utils/quick_units.sh WORK [pytest arguments, paths relative to the collection root]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$1"
shift
copy="$work/collections/ansible_collections/o365/outlook"
rm -rf "$copy"
mkdir -p "$copy"
git -C "$repo" ls-files -z --cached --others --exclude-standard | (cd "$repo" && tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$copy"
cd "$copy"
PYTHONPATH="$work/collections" exec "$repo/.venv/bin/python" -m pytest -p no:cacheprovider "$@"
