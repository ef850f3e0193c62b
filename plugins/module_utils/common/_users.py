# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""User keys: which ones are refused, and how the signed-in user (no key at all) is named."""

from __future__ import annotations

from typing import Optional

from ._errors import ConfigurationError

# The signed-in user: the path segment of /me, and the name results and messages give a task without a user.
ME = "me"

# What is wrong with a user key, if anything (see user_key_problem).
EMPTY = "empty"
PADDED = "padded"


def user_key_problem(value: Optional[str]) -> Optional[str]:
    """EMPTY for a missing or blank key, PADDED for white space around it, None for a usable key.

    A blank key would address the collection (/users/) and a padded one a user that does not exist, so neither is
    ever sent; the caller words the refusal for its own context.
    """
    if not (value or "").strip():
        return EMPTY
    if value != value.strip():
        return PADDED
    return None


def checked_user(value: Optional[str]) -> Optional[str]:
    """The user option of a module: None for the signed-in user, else the key as given; blank or padded keys are refused."""
    if value is None:
        return None
    problem = user_key_problem(value)
    if problem == EMPTY:
        raise ConfigurationError("user is empty: give an object id or a user principal name, or omit it for /me.")
    if problem == PADDED:
        raise ConfigurationError("user %r has leading or trailing white space: remove it." % value)
    return value


def shown_user(user: Optional[object]) -> str:
    """How results and messages name a photo's owner: a user's key, ME for the signed-in user, or an Owner as
    group:<id> / team:<id> (graph/_owners.py)."""
    return ME if user is None else str(user)
