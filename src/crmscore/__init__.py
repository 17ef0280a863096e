"""crmscore: customer evaluation and scoring.

Classes (RFM, ABC, purchase behaviour, value tiers, lifecycle stages), weighted scorecards with an explanation
for every point, CLV and churn risk, history and migration: as a library, a CLI and a server.
"""

from __future__ import annotations

from crmscore.errors import CrmscoreError
from crmscore.workspace import Workspace

__all__ = ["CrmscoreError", "Workspace", "__version__"]

__version__ = "0.1.0.dev0"
