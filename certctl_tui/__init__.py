"""The terminal dashboard of certctl: a Textual app on the engine.

Imported only when the dashboard runs (``certctl`` / ``certctl tui``), never by the engine.
"""

from __future__ import annotations

from certctl_tui.app import CertctlApp

__all__ = ["CertctlApp"]
