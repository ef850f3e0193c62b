# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only; the API may change without notice.

"""Pillow, imported only by the features that need it (pixel comparison, conversion, downscaling)."""

from __future__ import annotations

import traceback

from ._errors import MissingLibraryError

_PILLOW = None
_PILLOW_ERROR = None


def pillow_available():
    return load_pillow(required=None) is not None


def load_pillow(required="this feature"):
    """The PIL.Image module, or None (required=None) / MissingLibraryError naming what needed it."""
    global _PILLOW, _PILLOW_ERROR  # pylint: disable=global-statement
    if _PILLOW is None and _PILLOW_ERROR is None:
        try:
            from PIL import Image  # pylint: disable=import-outside-toplevel
        except ImportError:
            _PILLOW_ERROR = traceback.format_exc()
        else:
            _PILLOW = Image
    if _PILLOW is None and required:
        raise MissingLibraryError("Pillow is needed for %s (pip install Pillow)" % required, "Pillow", _PILLOW_ERROR)
    return _PILLOW
