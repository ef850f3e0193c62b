# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""The glue every module shares: typed errors become exactly one fail_json(), and nothing escapes as a traceback."""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib

from ..photo._files import check_writable_dir
from ..graph._connect import connect
from ..common._errors import ConfigurationError, MissingLibraryError, OutlookError, UsersFailed
from ..photo._reconcile import PhotoPolicy
from ..common._redact import Redactor

# Options whose values are secrets: masked in every form (URL-encoded, JSON-escaped, base64) in any output.
SECRET_OPTIONS = ("client_secret", "client_certificate_password", "access_token")


def normalize_user(value):
    """None for /me; otherwise the key as given, refusing empty or blank strings."""
    if value is None:
        return None
    if not value.strip():
        raise ConfigurationError("user is empty: give an object id or a user principal name, or omit it for /me.")
    if value != value.strip():
        raise ConfigurationError("user %r has leading or trailing white space: remove it." % value)
    return value


MAX_PARALLELISM = 64


def checked_parallelism(module):
    """The parallelism option of the many-user modules, refused outside 1..MAX_PARALLELISM before any request."""
    value = module.params["parallelism"]
    if not 1 <= value <= MAX_PARALLELISM:
        module.fail_json(msg="parallelism must be between 1 and %d, got %d." % (MAX_PARALLELISM, value))
    return value


def photo_policy(module, **overrides):
    """PhotoPolicy from the options of photo_policy_options(), refusing values that cannot work."""
    params = module.params
    if params["pixel_tolerance"] < 0 or params["pixel_tolerance"] > 255:
        raise ConfigurationError("pixel_tolerance must be between 0 and 255, got %s." % params["pixel_tolerance"])
    wait = params.get("wait", False)
    wait_timeout = params.get("wait_timeout", 60)
    if wait_timeout <= 0:
        raise ConfigurationError("wait_timeout must be a positive number of seconds, got %s." % wait_timeout)
    if params["backup_dir"]:
        check_writable_dir(params["backup_dir"], "backup_dir")
    options = dict(compare=params["compare"], pixel_tolerance=params["pixel_tolerance"], only_if_missing=params["only_if_missing"],
                   backup_dir=params["backup_dir"], wait=wait, wait_timeout=wait_timeout, warn=module.warn)
    options.update(overrides)
    return PhotoPolicy(**options)


def many_users_outcome(result, written, failed_users, not_attempted_users, stop_error, fail_on_error, verb="failed"):
    """Raises the failure of a many-user task with every result field attached, or returns result.

    A stopped run always fails (it did not finish), and says what was written and who was not attempted;
    per-user failures fail the task only with fail_on_error.
    """
    if stop_error is not None:
        raise UsersFailed("The run stopped: %s. %d users were not attempted (see not_attempted_users), %d failed; "
                          "%d photos were changed before it stopped. Fix the cause and run again: done users are "
                          "not written twice." % (stop_error.msg, len(not_attempted_users), len(failed_users),
                                                  written), **result)
    if failed_users and fail_on_error:
        shown = ", ".join(str(user) for user in failed_users[:10])
        more = "" if len(failed_users) <= 10 else " and %d more" % (len(failed_users) - 10)
        raise UsersFailed("%d of %d users %s: %s%s. See each entry's message; the other users were done."
                          % (len(failed_users), result["summary"]["total"], verb, shown, more), **result)
    return result


def _unexpected(exc):
    return "Unexpected %s: %s. This is a bug in o365.outlook: please report it with the traceback (-vvv)." % (
        type(exc).__name__, exc)


def run_module(module, work, **connect_options):
    """Connects, runs work(client) -> dict for exit_json, and reports any error once, with secrets masked.

    Every secret option is registered with one Redactor, which also hands each of its forms to Ansible's no_log
    masking; tokens are added as they are obtained.
    """
    redactor = Redactor(on_add=module.no_log_values.add)
    for name in SECRET_OPTIONS:
        redactor.add(module.params.get(name))
    try:
        client = connect(module.params, redactor=redactor, warn=module.warn, **connect_options)
        result = work(client)
    except MissingLibraryError as exc:
        module.fail_json(msg=redactor.redact("%s. %s" % (exc.msg, missing_required_lib(exc.library))),
                         exception=exc.exception)
    except OutlookError as exc:
        failure = exc.fail_kwargs()
        failure["msg"] = redactor.redact(failure["msg"])
        module.fail_json(**failure)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # Containment: a bug or a library's surprise still ends in one readable failure, never a bare traceback.
        module.fail_json(msg=redactor.redact(_unexpected(exc)), exception=redactor.redact(traceback.format_exc()))
    module.exit_json(**result)
