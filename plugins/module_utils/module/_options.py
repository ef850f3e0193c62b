# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Option groups: a set of options that travels with its doc fragment and its checks, and the task they check.

A module is its groups plus its own options (see _outlook_module.OutlookModule). Each group's validate() raises
ConfigurationError (or another OutlookError) and never calls fail_json: the module reports every error one way.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional

ArgSpec = Dict[str, Dict[str, Any]]


class TaskContext:
    """One run of a module as option checks and the module's work see it.

    params: the module's options; warn: module.warn; redactor: the run's Redactor (every secret is added to it);
    validated.<group name>: what each group's validate() returned, in the order the module declares its groups;
    own: what the module's own check returned.
    """

    def __init__(self, params: Mapping[str, Any], warn: Callable[[str], None], redactor: Any, check_mode: bool = False,
                 diff: bool = False) -> None:
        self.params = params
        self.warn = warn
        self.redactor = redactor
        self.check_mode = check_mode
        self.diff = diff
        self.validated = SimpleNamespace()
        self.own: Any = None


class OptionGroup:
    """Options that belong together: their argspec entries, the doc fragment that documents them, their checks."""

    # The attribute of TaskContext.validated that holds what validate() returns.
    name = ""
    # The doc fragment a module using this group lists in extends_documentation_fragment (None: the module documents them).
    doc_fragment: Optional[str] = None

    def options(self) -> ArgSpec:
        raise NotImplementedError

    def validate(self, task: TaskContext) -> Any:
        """Checks this group's options before anything connects; raises ConfigurationError. The value is kept for the work."""
        return None

    def connect_options(self, value: Any) -> Dict[str, Any]:
        """Keyword arguments for open_client() that this group decides (pool size, gate), from what validate() returned."""
        return {}


def merged_spec(groups: Iterable[OptionGroup], own_options: Optional[Mapping[str, Dict[str, Any]]] = None) -> ArgSpec:
    """One argument spec from the groups' options and the module's own; a name defined twice is a programming error."""
    spec: ArgSpec = {}
    for options in [group.options() for group in groups] + [dict(own_options or {})]:
        clash = set(spec) & set(options)
        if clash:
            raise ValueError("options defined twice: %s" % ", ".join(sorted(clash)))
        spec.update(options)
    return spec


# no_log options that are not secrets: content is no_log so that Ansible never echoes an image of megabytes
# (invocation, -vvv), but masking every form of it in every output would cost much and protect nothing.
NOT_SECRETS = frozenset(("content", "default_content"))


def secret_options(spec: Mapping[str, Mapping[str, Any]]) -> List[str]:
    """The options whose values are secrets (no_log): masked in every form in any output."""
    return [name for name, option in spec.items() if option.get("no_log") and name not in NOT_SECRETS]


def connection_argument_spec() -> ArgSpec:
    """The options every module has: where to connect (ConnectionOptions) and how to sign in (AuthOptions)."""
    from ._auth_options import AuthOptions
    from ._connection_options import ConnectionOptions
    return merged_spec((ConnectionOptions(), AuthOptions()))
