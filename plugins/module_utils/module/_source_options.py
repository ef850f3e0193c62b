# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""The wanted image of a single-photo module: src (a file) or content (base64), one of them with state=present.

content is no_log: Ansible then never echoes it (invocation, -vvv), and it is never put in a result or a diff.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..photo._content import ImageContent
from ..photo._source import Source, load_source
from ._options import TaskContext

OPTIONS = dict(
    src=dict(type="path"),
    content=dict(type="str", no_log=True),
)
MODULE_KWARGS = dict(
    mutually_exclusive=[("src", "content")],
    required_if=[("state", "present", ("src", "content"), True)],
)


def wanted_source(params: Mapping[str, Any]) -> Source:
    """The task's source: the content's text (decoded when needed), else the path."""
    if params.get("content") is not None:
        return ImageContent(params["content"], "content")
    return params["src"]


def load_wanted(task: TaskContext) -> Any:
    """The task's source read, checked whole and prepared, before the first request (a SourceImage)."""
    params = task.params
    return load_source(wanted_source(params), convert=params["convert"], warn=task.warn,
                       preparation=task.validated.photo_policy.preparation)
