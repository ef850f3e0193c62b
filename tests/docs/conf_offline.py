# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Sphinx settings that `make docs` (tests/docs/build.sh) appends to the conf.py `antsibull-docs sphinx-init` writes.

The generated conf.py maps Python, Jinja2 and the Ansible docs through intersphinx, which downloads each
objects.inv from the internet at build time. This replaces that mapping with one local inventory, written here,
holding only the labels of docs.ansible.com that the generated pages and the guides refer to: Sphinx reads it
from disk, fetches nothing, and the links still lead to docs.ansible.com. With -W, a reference to any other
label outside the site fails the build; add it to ANSIBLE_DOCS_LABELS if it is meant.
"""

import os
import zlib

ANSIBLE_DOCS_URL = 'https://docs.ansible.com/projects/ansible/devel/'

# label -> (page and anchor under ANSIBLE_DOCS_URL, title shown when the reference gives none)
ANSIBLE_DOCS_LABELS = {
    # antsibull-docs' module page template: "Common return values are documented here".
    'common_return_values': ('reference_appendices/common_return_values.html#common-return-values', 'Return Values'),
    # antsibull-docs' environment variable index template.
    'ansible_configuration_settings': (
        'reference_appendices/config.html#ansible-configuration-settings', 'Ansible Configuration Settings'),
    # docs/docsite/rst/guide_emulator.rst: :ansplugin:`ansible.builtin.uri#module`.
    'ansible_collections.ansible.builtin.uri_module': (
        'collections/ansible/builtin/uri_module.html#ansible-collections-ansible-builtin-uri-module',
        'ansible.builtin.uri module'),
}


def write_inventory(path, labels):
    """Write a Sphinx version 2 inventory (objects.inv) of std:label entries to path."""
    lines = ''.join('%s std:label -1 %s %s\n' % (name, uri, title) for name, (uri, title) in sorted(labels.items()))
    header = (
        '# Sphinx inventory version 2\n'
        '# Project: Ansible\n'
        '# Version: devel\n'
        '# The remainder of this file is compressed using zlib.\n'
    )
    with open(path, 'wb') as inventory:
        inventory.write(header.encode('utf-8') + zlib.compress(lines.encode('utf-8')))


ANSIBLE_DOCS_INVENTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ansible_devel.inv')
write_inventory(ANSIBLE_DOCS_INVENTORY, ANSIBLE_DOCS_LABELS)

# A local path (no "://") is read from disk; intersphinx never tries the network for it.
intersphinx_mapping = {
    'ansible_devel': (ANSIBLE_DOCS_URL, ANSIBLE_DOCS_INVENTORY),
}
