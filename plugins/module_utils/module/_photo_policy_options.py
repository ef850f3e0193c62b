# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""The options that steer the photo decision and the write: compare, pixel_tolerance, only_if_missing, backup_dir, convert,
the preparation (crop, max_dimension, min_dimension), and wait / wait_timeout where a module waits for its write.

Documented by the doc fragment o365.outlook._photo_policy (wait and wait_timeout by the module that has them).
"""

from __future__ import annotations

from typing import Any

from ..common._errors import ConfigurationError
from ..photo._compare import DEFAULT_PIXEL_TOLERANCE
from ..photo._files import check_writable_dir
from ..photo._pillow import load_pillow
from ..photo._prepare import CROPS, DEFAULT_MIN_DIMENSION, Preparation
from ..photo._reconcile import PhotoPolicy
from ._options import ArgSpec, OptionGroup, TaskContext

DEFAULT_WAIT_TIMEOUT = 60


class PhotoPolicyOptions(OptionGroup):
    """Validated into a photo._reconcile.PhotoPolicy.

    wait: whether the module has wait and wait_timeout. policy_overrides: fixed PhotoPolicy arguments of the module
    (the sync module does not read the photo back after an upload).
    """

    name = "photo_policy"
    doc_fragment = "o365.outlook._photo_policy"

    def __init__(self, wait: bool = True, **policy_overrides: Any) -> None:
        self.wait = wait
        self.policy_overrides = policy_overrides

    def options(self) -> ArgSpec:
        options = dict(
            compare=dict(type="str", choices=["auto", "sha256", "pixels"], default="auto"),
            pixel_tolerance=dict(type="float", default=DEFAULT_PIXEL_TOLERANCE),
            only_if_missing=dict(type="bool", default=False),
            backup_dir=dict(type="path"),
            convert=dict(type="bool", default=True),
            crop=dict(type="str", choices=list(CROPS), default="none"),
            max_dimension=dict(type="int"),
            min_dimension=dict(type="int", default=DEFAULT_MIN_DIMENSION),
        )
        if self.wait:
            options.update(wait=dict(type="bool", default=False), wait_timeout=dict(type="int", default=DEFAULT_WAIT_TIMEOUT))
        return options

    def validate(self, task: TaskContext) -> PhotoPolicy:
        params = task.params
        # Written so that nan fails too: it compares false with everything, so "< 0 or > 255" let it through.
        if not 0 <= params["pixel_tolerance"] <= 255:
            raise ConfigurationError("pixel_tolerance must be between 0 and 255, got %s." % params["pixel_tolerance"])
        wait = params.get("wait", False)
        wait_timeout = params.get("wait_timeout", DEFAULT_WAIT_TIMEOUT)
        if wait_timeout <= 0:
            raise ConfigurationError("wait_timeout must be a positive number of seconds, got %s." % wait_timeout)
        if params["backup_dir"]:
            check_writable_dir(params["backup_dir"], "backup_dir")
        options = dict(preparation=self._preparation(params),
                       compare=params["compare"], pixel_tolerance=params["pixel_tolerance"], only_if_missing=params["only_if_missing"],
                       backup_dir=params["backup_dir"], wait=wait, wait_timeout=wait_timeout, warn=task.warn)
        options.update(self.policy_overrides)
        return PhotoPolicy(**options)

    @staticmethod
    def _preparation(params: Any) -> Preparation:
        """The preparation options, refused before any request when no image could be prepared as asked."""
        preparation = Preparation.from_options(params["crop"], params["max_dimension"], params["min_dimension"])
        if preparation.crop != "none":
            if not params["convert"]:
                raise ConfigurationError("crop=%s re-encodes every photo, which convert=false forbids: set convert=true "
                                         "or crop=none." % preparation.crop)
            load_pillow("crop=%s" % preparation.crop)
        return preparation
