# o365.outlook: every set-up step from a fresh clone. `make demo` and `make test` are the two entry points.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
BUILD ?= $(CURDIR)/.build
# ansible-test only runs from a real directory named ansible_collections/<namespace>/<name> (a symlink does not work).
COLLECTIONS := $(BUILD)/collections
COLLECTION := $(COLLECTIONS)/ansible_collections/o365/outlook
TEST_PYTHON := 3.11
ANSIBLE_TEST := PATH="$(BIN):$$PATH" $(BIN)/ansible-test

.PHONY: help venv bootstrap collection demo test sanity units integration lint changelog-lint docs-lint docs clean bench bench-smoke fault-matrix emulator-clients installed-emulator release-check test-matrix

help:
	@echo "make demo   - set a user's photo twice against the local Graph emulator (changed, then ok)"
	@echo "make test   - sanity, unit and integration tests (what CI runs)"
	@echo "make sanity | units | integration | docs-lint | lint | ee-check | bench-smoke | fault-matrix | emulator-clients | installed-emulator - one part of the suite"
	@echo "make bench  - the performance benchmark (sync vs loop vs script vs lower bound, scale, realistic model; about 30 minutes)"
	@echo "make release-check - build the tarball, galaxy-importer with no warning, install it, run the demo and the README's commands from the installed copy"
	@echo "make test-matrix   - sanity, units and the demo on ansible-core 2.17 to 2.21 (MATRIX_VERSIONS=2.20 for one; 30+ minutes)"
	@echo "make docs   - the documentation site as HTML in $(BUILD)/docs/html, built offline, warnings are errors"
	@echo "make clean  - remove .venv and .build"

venv: $(VENV)/.installed

# requirements.txt for .venv; make test-matrix points VENV and VENV_REQUIREMENTS at each version's own venv and file.
VENV_REQUIREMENTS ?= requirements.txt
$(VENV)/.installed: $(VENV_REQUIREMENTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(VENV_REQUIREMENTS)
	touch $@

# ansible-test's virtualenvs would download get-pip.py from a host this network cannot reach.
bootstrap: venv
	$(BIN)/python tests/utils/seed_pip_bootstrap.py

# A fresh copy of the tracked and new (not ignored) files, where ansible-test and ansible-playbook find the collection.
collection: venv
	rm -rf $(COLLECTION)
	mkdir -p $(COLLECTION)
	git ls-files -z --cached --others --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C $(COLLECTION)
	# Its own (empty) git repository: otherwise ansible-test sees this repo's .gitignore hide .build and finds no files.
	git -C $(COLLECTION) init -q

demo: collection
	tests/utils/with_emulator.sh $(BUILD)/demo-emulator $(BIN)/python -- \
		env PATH="$(BIN):$$PATH" ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS) ANSIBLE_STDOUT_CALLBACK=default \
		ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false \
		$(BIN)/ansible-playbook examples/demo.yml

sanity: collection bootstrap
	cd $(COLLECTION) && $(ANSIBLE_TEST) sanity --requirements --python $(TEST_PYTHON) --color no

units: collection bootstrap
	cd $(COLLECTION) && $(ANSIBLE_TEST) units --requirements --python $(TEST_PYTHON) --color no

integration: collection bootstrap
	cd $(COLLECTION) && $(ANSIBLE_TEST) integration --requirements --python $(TEST_PYTHON) --color no

# The fragments, and CHANGELOG.rst as antsibull-changelog generates it from changelogs/changelog.yaml (no hand edits).
changelog-lint: collection
	cd $(COLLECTION) && $(BIN)/antsibull-changelog lint
	cd $(COLLECTION) && PATH="$(BIN):$$PATH" ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS) $(BIN)/antsibull-changelog generate
	diff -u CHANGELOG.rst $(COLLECTION)/CHANGELOG.rst || { echo "changelog-lint: CHANGELOG.rst differs from what antsibull-changelog generates from changelogs/changelog.yaml"; exit 1; }
	@echo "changelog-lint: passed"

# antsibull-docs in a venv of its own (it wants another docutils than the tools in .venv): checks the module docs,
# the guides and every option or return value the guides name.
DOCS_VENV := $(BUILD)/docs-venv
$(DOCS_VENV)/.installed: tests/docs/requirements.txt
	$(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/python -m pip install --quiet 'antsibull-docs>=2.0,<3' 'ansible-core>=2.17,<2.22' -r tests/docs/requirements.txt
	touch $@

docs-lint: collection $(DOCS_VENV)/.installed
	PATH="$(DOCS_VENV)/bin:$$PATH" $(DOCS_VENV)/bin/antsibull-docs lint-collection-docs --plugin-docs --check-extra-docs-refs $(COLLECTION)
	@echo "docs-lint: passed"

# The documentation site (tests/docs/build.sh): antsibull-docs writes a Sphinx project and the RST of the modules,
# roles and guides (docs/docsite), sphinx-build makes the HTML with warnings as errors and without the network
# (intersphinx reads a local inventory, tests/docs/conf_offline.py); fails unless every module, role and guide has a page.
docs: collection $(DOCS_VENV)/.installed
	tests/docs/build.sh $(DOCS_VENV)/bin $(COLLECTIONS) $(BUILD)/docs

# Microsoft's own clients (msgraph-sdk, msal, azure-identity) from PyPI, unmodified, against the emulator
# (tests/emulator_clients), in a venv of their own: msgraph-sdk brings far more than the tools in .venv need.
CLIENTS_VENV := $(BUILD)/clients-venv
$(CLIENTS_VENV)/.installed: tests/emulator_clients/requirements.txt
	$(PYTHON) -m venv $(CLIENTS_VENV)
	$(CLIENTS_VENV)/bin/python -m pip install --quiet -r tests/emulator_clients/requirements.txt
	touch $@

emulator-clients: $(CLIENTS_VENV)/.installed
	PYTHONPATH=$(CURDIR)/tests $(CLIENTS_VENV)/bin/python -m pytest -p no:cacheprovider -q \
		--basetemp=$(BUILD)/emulator-clients tests/emulator_clients

test: sanity units integration changelog-lint docs-lint docs lint ee-check bench-smoke fault-matrix emulator-clients installed-emulator release-check
	@echo "make test: all suites passed"

clean:
	rm -rf $(VENV) $(BUILD)

# ansible-lint (production profile, .ansible-lint) over the role and the playbooks, run in the copy where o365.outlook resolves.
lint: collection
	cd $(COLLECTION) && PATH="$(BIN):$$PATH" ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS) $(BIN)/ansible-lint --offline roles examples tests/ee tests/installed

# The emulator role as a user gets it: the tarball built and installed with ansible-galaxy into an empty collections path,
# and tests/installed/playbook.yml run from a directory outside the repository with only that path (tests/installed).
installed-emulator: collection
	tests/installed/run.sh $(BIN) $(COLLECTION) $(BUILD)/installed

# The collection as AWX needs it: tarball, ansible-builder introspection and an EE build context (no image is built).
.PHONY: ee-check
ee-check: collection
	tests/ee/check.sh $(BIN) $(COLLECTIONS)

# Performance: outlook_user_photo_sync against an Ansible loop, a sequential script and the lower bound, the scale series
# up to 100,000 users, the realistic service model and the nightly rows (tests/bench). BENCH_ARGS="--parts model": one part.
BENCH_ARGS ?=
bench: collection
	$(BIN)/python tests/bench/run_bench.py --collections $(COLLECTIONS) --work-dir $(BUILD)/bench \
		--json $(BUILD)/bench/report.json $(BENCH_ARGS)

# The benchmark's smoke version, part of `make test`: fails unless sync is at least 3x faster per user than the loop
# and the adaptive gate rises above its start on a short throttled run.
bench-smoke: collection
	$(BIN)/python tests/bench/run_bench.py --collections $(COLLECTIONS) --work-dir $(BUILD)/bench-smoke --smoke

# Issue 8's fault matrix, part of `make test`: a 1,000-user sync against the emulator under 429s, 5xx bursts, dropped
# connections, a revoked token, a SIGKILLed and restarted emulator and hostile $batch answers (tests/fault_matrix).
# The table goes to stdout, the figures to $(BUILD)/fault-matrix.json, each run's module output under $(BUILD)/fault-matrix.
fault-matrix: collection
	cd $(COLLECTION) && PYTHONPATH=$(COLLECTIONS) FAULT_MATRIX_REPORT=$(BUILD)/fault-matrix.json \
		$(BIN)/python -m pytest -p no:cacheprovider -q --basetemp=$(BUILD)/fault-matrix tests/fault_matrix

# The release as Galaxy and Automation Hub see it (tests/release/check.sh): the tarball built from the collection copy
# (its file count and size printed), galaxy-importer on it with tests/release/galaxy-importer.cfg (no container engine)
# and no WARNING or ERROR allowed, then the tarball installed into an empty collections path and the demo run from there.
# galaxy-importer gets a venv of its own: it brings its own ansible-core and ansible-lint.
IMPORTER_VENV := $(BUILD)/importer-venv
$(IMPORTER_VENV)/.installed:
	$(PYTHON) -m venv $(IMPORTER_VENV)
	$(IMPORTER_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(IMPORTER_VENV)/bin/python -m pip install --quiet 'galaxy-importer>=0.4.44,<0.5'
	touch $@

release-check: collection $(IMPORTER_VENV)/.installed
	tests/release/check.sh $(BIN) $(IMPORTER_VENV)/bin $(COLLECTION) $(BUILD)/release

# `make sanity`, `make units` and `make demo` on each ansible-core version, each with a Python it supports, its own venv
# and collection copy under $(BUILD)/matrix/<version> (tests/matrix/run.py). The table goes to stdout and
# $(BUILD)/matrix/report.md; any failed cell fails the target. Not part of `make test` (30+ minutes on 2 cores).
MATRIX_VERSIONS ?= 2.17 2.18 2.19 2.20 2.21
test-matrix:
	$(PYTHON) tests/matrix/run.py --build $(BUILD)/matrix --make $(MAKE) $(MATRIX_VERSIONS)
