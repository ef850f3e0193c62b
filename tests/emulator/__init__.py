# SPDX-License-Identifier: GPL-3.0-or-later
"""A local Microsoft Graph + Entra ID emulator over HTTPS, for the o365.outlook tests (see README.md)."""
