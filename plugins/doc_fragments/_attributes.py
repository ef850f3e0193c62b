# Copyright (c) o365.outlook contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE: for use inside this collection only.

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/o365.outlook.outlook) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - o365.outlook.outlook
"""
