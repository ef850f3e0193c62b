# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""The module builder: a module is its option groups, its own options and checks, and its work.

run(work) checks every option before anything connects, connects once, runs the work, and turns any error into
exactly one fail_json() with secrets masked: nothing escapes as a traceback.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable, Dict, List, Mapping, NoReturn, Optional, Sequence

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ..common._errors import MissingLibraryError, OutlookError
from ..common._redact import Redactor
from ..graph._connect import open_client
from ..graph._photo_client import PhotoClient
from ._auth_options import AuthOptions
from ._connection_options import ConnectionOptions
from ._options import ArgSpec, OptionGroup, TaskContext, merged_spec, secret_options

Work = Callable[[PhotoClient, TaskContext], Dict[str, Any]]
Check = Callable[[TaskContext], Any]


class OutlookModule:
    """groups: the module's OptionGroups (ConnectionOptions and AuthOptions always among them), validated in this order.
    options: the module's own argspec entries. check(task): the module's own checks, run after the groups' and
    before anything connects; what it returns is task.own. module_kwargs: the other AnsibleModule arguments.
    """

    def __init__(self, groups: Sequence[OptionGroup], options: Optional[Mapping[str, Dict[str, Any]]] = None,
                 check: Optional[Check] = None, **module_kwargs: Any) -> None:
        names = [group.name for group in groups]
        # The sign-in check needs the checked timeout, and connecting needs both.
        if ConnectionOptions.name not in names or AuthOptions.name not in names or \
                names.index(ConnectionOptions.name) > names.index(AuthOptions.name):
            raise ValueError("a module needs ConnectionOptions, then AuthOptions, among its groups: got %s" % names)
        self.groups = tuple(groups)
        self.options = dict(options or {})
        self.check = check
        self.module_kwargs = module_kwargs

    def argument_spec(self) -> ArgSpec:
        return merged_spec(self.groups, self.options)

    def doc_fragments(self) -> List[str]:
        """The doc fragments the module's DOCUMENTATION must extend, one per group that has one."""
        return [group.doc_fragment for group in self.groups if group.doc_fragment]

    def run(self, work: Work) -> NoReturn:
        """Builds the AnsibleModule, validates, connects, runs work(client, task) and exits with its result."""
        spec = self.argument_spec()
        module = AnsibleModule(argument_spec=spec, **self.module_kwargs)
        # Every secret option goes to one Redactor, which hands each of its forms to Ansible's no_log masking;
        # tokens and secrets read from the environment are added as they are obtained.
        redactor = Redactor(on_add=module.no_log_values.add)
        for name in secret_options(spec):
            redactor.add(module.params.get(name))
        task = TaskContext(module.params, module.warn, redactor, check_mode=module.check_mode, diff=module._diff)
        try:
            self._validate(task)
            result = work(self._connect(task), task)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # Containment: a bug or a library's surprise still ends in one readable failure, never a bare traceback.
            module.fail_json(**failure(exc, redactor))
        module.exit_json(**result)

    def _validate(self, task: TaskContext) -> None:
        """Every group's checks, then the module's own: all of them before the first request."""
        for group in self.groups:
            setattr(task.validated, group.name, group.validate(task))
        if self.check is not None:
            task.own = self.check(task)

    def _connect(self, task: TaskContext) -> PhotoClient:
        connect_options: Dict[str, Any] = {}
        for group in self.groups:
            connect_options.update(group.connect_options(getattr(task.validated, group.name)))
        return open_client(task.validated.connection, task.validated.auth, task.redactor, **connect_options)


def failure(exc: Exception, redactor: Redactor) -> Dict[str, Any]:
    """The fail_json() arguments for any error, every secret masked."""
    if isinstance(exc, MissingLibraryError):
        return dict(msg=redactor.redact("%s. %s" % (exc.msg, missing_required_lib(exc.library))), exception=exc.exception)
    if isinstance(exc, OutlookError):
        kwargs = exc.fail_kwargs()
        kwargs["msg"] = redactor.redact(kwargs["msg"])
        return kwargs
    unexpected = "Unexpected %s: %s. This is a bug in o365.outlook: please report it with the traceback (-vvv)." % (
        type(exc).__name__, exc)
    return dict(msg=redactor.redact(unexpected), exception=redactor.redact(traceback.format_exc()))
