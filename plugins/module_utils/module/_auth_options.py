# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""How to sign in: the options and the checks are the auth layer's (auth/_selection.py); this group plugs them in.

Documented by the doc fragment o365.outlook._auth.
"""

from __future__ import annotations

from ..auth._selection import AuthChoice, auth_options, choose_auth
from ._options import ArgSpec, OptionGroup, TaskContext


class AuthOptions(OptionGroup):
    """The sign-in options of every module; validated into the chosen method (an AuthChoice). Needs ConnectionOptions first."""

    name = "auth"
    doc_fragment = "o365.outlook._auth"

    def options(self) -> ArgSpec:
        return auth_options()

    def validate(self, task: TaskContext) -> AuthChoice:
        # The token endpoint waits as long as the API: the checked timeout, not the raw option.
        params = dict(task.params, timeout=task.validated.connection.timeout)
        return choose_auth(params, redactor=task.redactor, warn=task.warn)
