# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Seed ansible-test's pip bootstrap cache so it never downloads get-pip.py.

Every virtualenv ansible-test creates is bootstrapped by a get-pip script fetched from
ci-files.testing.ansible.com, which this network cannot reach. ansible-test first looks for
~/.ansible/test/cache/get_pip_<version>.py; this writes a small stand-in there that installs pip from
the PyPI wheel instead. The pip version is read from the installed ansible-test so the file name
follows its pin.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

SHIM = '''# Written by o365.outlook tests/utils/seed_pip_bootstrap.py: stands in for get-pip.py {version}.
import glob
import os
import sys

WHEELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pip-wheels")
wheel = sorted(glob.glob(os.path.join(WHEELS, "pip-{version}-*.whl")))[0]
sys.path.insert(0, wheel)
from pip._internal.cli.main import main  # noqa: E402

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install", "--find-links", WHEELS] + args))
'''


def ansible_test_pip_version():
    import ansible_test  # pylint: disable=import-outside-toplevel
    path = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
    with open(path, encoding="utf-8") as handle:
        found = re.search(r"pip='([0-9.]+)'", handle.read())
    if not found:
        raise SystemExit("cannot find the pip version ansible-test pins in %s" % path)
    return found.group(1)


def main():
    version = ansible_test_pip_version()
    cache = os.path.expanduser("~/.ansible/test/cache")
    wheels = os.path.join(cache, "pip-wheels")
    os.makedirs(wheels, exist_ok=True)
    if not any(name.startswith("pip-%s-" % version) and name.endswith(".whl") for name in os.listdir(wheels)):
        subprocess.check_call([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                               "-d", wheels, "pip==%s" % version])
    shim_path = os.path.join(cache, "get_pip_%s.py" % version.replace(".", "_"))
    content = SHIM.format(version=version)
    current = None
    if os.path.exists(shim_path):
        with open(shim_path, encoding="utf-8") as handle:
            current = handle.read()
    if current != content:
        with open(shim_path, "w", encoding="utf-8") as handle:
            handle.write(content)
    print("pip %s bootstrap for ansible-test: %s" % (version, shim_path))


if __name__ == "__main__":
    main()
