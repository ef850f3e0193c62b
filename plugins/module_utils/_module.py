# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""The glue every module shares: typed errors become exactly one fail_json()."""

from __future__ import annotations

from ansible.module_utils.basic import missing_required_lib

from ._connection import connect
from ._errors import ConfigurationError, MissingLibraryError, OutlookError
from ._reconcile import PhotoPolicy


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
    options = dict(compare=params["compare"], pixel_tolerance=params["pixel_tolerance"], only_if_missing=params["only_if_missing"],
                   backup_dir=params["backup_dir"], wait=wait, wait_timeout=wait_timeout, warn=module.warn)
    options.update(overrides)
    return PhotoPolicy(**options)


def run_module(module, work, **connect_options):
    """Connects, runs work(client) -> dict for exit_json, and reports any typed error once."""
    try:
        client = connect(module.params, register_secret=module.no_log_values.add, **connect_options)
        result = work(client)
    except MissingLibraryError as exc:
        module.fail_json(msg="%s. %s" % (exc.msg, missing_required_lib(exc.library)), exception=exc.exception)
    except OutlookError as exc:
        module.fail_json(**exc.fail_kwargs())
    module.exit_json(**result)
