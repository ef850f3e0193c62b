#!/usr/bin/env bash
# `make docs`: the collection's documentation site as HTML, built without the network.
#  1. `antsibull-docs sphinx-init` writes a Sphinx project for o365.outlook (conf.py, antsibull-docs.cfg, index);
#     tests/docs/conf_offline.py is appended to its conf.py: intersphinx reads one local inventory instead of
#     downloading the Python, Jinja2 and Ansible ones.
#  2. `antsibull-docs collection` turns the modules, the roles, the guides (docs/docsite/extra-docs.yml) and
#     docs/docsite/links.yml into RST, failing on any documentation error.
#  3. sphinx-build makes the HTML, every warning an error (-W --keep-going, nitpicky): a broken reference fails.
#  4. Checks that the log shows no intersphinx inventory read from a URL, and that the site has a page, linked from
#     its index, for each module, role and guide.
# Usage: tests/docs/build.sh DOCS_VENV_BIN_DIR COLLECTIONS_DIR OUT_DIR
#   DOCS_VENV_BIN_DIR  directory holding antsibull-docs, ansible-doc and sphinx-build (the Makefile's docs venv)
#   COLLECTIONS_DIR    directory holding ansible_collections/o365/outlook (the Makefile's collection copy)
#   OUT_DIR            where the site goes: OUT_DIR/html/index.html (OUT_DIR/site, OUT_DIR/doctrees: intermediate)
set -euo pipefail

readonly COLLECTION_NAME=o365.outlook
readonly MODULES=(outlook_user_photo outlook_user_photo_info outlook_user_photo_sync)
readonly ROLES=(user_photos emulator)
readonly GUIDES=(guide_authentication guide_idempotency guide_bulk guide_emulator guide_guarantees)

fail() {
    echo "docs: FAILED: $*" >&2
    exit 1
}

# Runs a command from the docs venv with the collection copy as the only collections path.
run_docs_tool() {
    local bin=$1 collections=$2
    shift 2
    env PATH="$bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$collections" "$@"
}

# sphinx-init, then conf_offline.py appended to the conf.py it wrote.
init_site() {
    local bin=$1 collections=$2 site=$3 conf_overlay=$4
    rm -rf "$site"
    mkdir -p "$site"
    chmod 700 "$site"  # antsibull-docs writes only into a directory no one else can write to
    run_docs_tool "$bin" "$collections" "$bin/antsibull-docs" sphinx-init --use-current --squash-hierarchy \
        --fail-on-error --project "$COLLECTION_NAME" --copyright "$COLLECTION_NAME contributors" \
        --title "$COLLECTION_NAME documentation" --dest-dir "$site" "$COLLECTION_NAME" >/dev/null
    {
        printf '\n# ---- appended by tests/docs/build.sh from tests/docs/conf_offline.py ----\n'
        cat "$conf_overlay"
    } >>"$site/conf.py"
}

generate_rst() {
    local bin=$1 collections=$2 site=$3
    chmod og-w "$site/rst"
    run_docs_tool "$bin" "$collections" "$bin/antsibull-docs" --config-file "$site/antsibull-docs.cfg" collection \
        --cleanup everything --fail-on-error --use-current --squash-hierarchy --dest-dir "$site/rst" "$COLLECTION_NAME"
}

# sphinx-build's progress goes to LOG, its warnings to stderr.
build_html() {
    local bin=$1 collections=$2 site=$3 html=$4 doctrees=$5 log=$6
    rm -rf "$html" "$doctrees"
    if ! run_docs_tool "$bin" "$collections" "$bin/sphinx-build" -b html -W --keep-going -n \
        -c "$site" -d "$doctrees" "$site/rst" "$html" >"$log"; then
        tail -n 3 "$log" >&2
        fail "sphinx-build reported warnings or errors (above; full log: $log)"
    fi
}

# Every intersphinx inventory must have come from a file: a URL means the build tried the network.
check_offline() {
    local log=$1 loads
    loads=$(grep -F 'intersphinx inventory' "$log" || true)
    [[ -n $loads ]] || fail "no intersphinx inventory loaded (did conf_offline.py reach conf.py?): $log"
    if grep -F '://' <<<"$loads"; then
        fail "an intersphinx inventory came from a URL (above), not from disk"
    fi
}

# A page for each module, role and guide (the named ones and any in the collection copy), linked from the index.
check_pages() {
    local html=$1 collection=$2 name dir
    local -a pages=()
    for name in "${MODULES[@]}"; do pages+=("${name}_module.html"); done
    for name in "$collection"/plugins/modules/*.py; do
        name=$(basename "$name" .py)
        [[ $name == __init__ ]] || pages+=("${name}_module.html")
    done
    for name in "${ROLES[@]}"; do pages+=("${name}_role.html"); done
    for dir in "$collection"/roles/*/; do pages+=("$(basename "$dir")_role.html"); done
    for name in "${GUIDES[@]}"; do pages+=("docsite/${name}.html"); done
    mapfile -t pages < <(printf '%s\n' "${pages[@]}" | sort -u)
    local missing=0 page
    for page in "${pages[@]}"; do
        if [[ ! -s $html/$page ]]; then
            echo "docs: no page $html/$page" >&2
            missing=1
        elif ! grep -qF "href=\"$page\"" "$html/index.html"; then
            echo "docs: $html/index.html has no link to $page" >&2
            missing=1
        fi
    done
    [[ $missing == 0 ]] || fail "pages missing from the site (above)"
    echo "docs: ${#pages[@]} module, role and guide pages present and linked from index.html"
}

main() {
    if [[ $# -ne 3 || ! -x "$1/antsibull-docs" || ! -x "$1/sphinx-build" ]]; then
        echo "usage: $0 DOCS_VENV_BIN_DIR COLLECTIONS_DIR OUT_DIR (DOCS_VENV_BIN_DIR must hold antsibull-docs and sphinx-build)" >&2
        exit 2
    fi
    local bin collections out here
    bin=$(cd "$1" && pwd)
    collections=$(cd "$2" && pwd)
    local collection=$collections/ansible_collections/${COLLECTION_NAME/.//}
    [[ -f $collection/galaxy.yml ]] || fail "no collection copy in $collections: run 'make collection' first"
    mkdir -p "$3"
    out=$(cd "$3" && pwd)
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

    init_site "$bin" "$collections" "$out/site" "$here/conf_offline.py"
    generate_rst "$bin" "$collections" "$out/site"
    build_html "$bin" "$collections" "$out/site" "$out/html" "$out/doctrees" "$out/sphinx.log"
    check_offline "$out/sphinx.log"
    check_pages "$out/html" "$collection"
    echo "docs: HTML in $out/html/index.html"
}

main "$@"
