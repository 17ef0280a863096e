"""Configurable scorecards: weighted dimensions, grades, an explanation for every point, versions.

- :mod:`~crmscore.scorecards.spec`: the YAML document as pydantic models (:class:`Scorecard`);
- :mod:`~crmscore.scorecards.validate`: whole-document validation (:func:`load_scorecard`, :func:`read_scorecard`);
- :mod:`~crmscore.scorecards.methods`: the registry of scoring methods (percentile, bins, linear, category, boolean);
- :mod:`~crmscore.scorecards.expressions`: safe arithmetic expressions over metrics (parsed, never eval'd);
- :mod:`~crmscore.scorecards.compile`: :func:`score` -> Ibis tables of scores and points;
- :mod:`~crmscore.scorecards.versions`: publish (immutable, content hash), list, load, preview.

>>> card = read_scorecard("b2b-default")
>>> [d.name for d in card.dimensions]
['basic', 'behaviour', 'needs', 'satisfaction', 'loyalty', 'financial']
"""

from __future__ import annotations

from crmscore.scorecards.compile import ScoreResult, score
from crmscore.scorecards.methods import METHODS, register_method
from crmscore.scorecards.spec import Scorecard
from crmscore.scorecards.templates import TEMPLATES
from crmscore.scorecards.validate import load_scorecard, read_scorecard, validate_scorecard

__all__ = [
    "METHODS",
    "TEMPLATES",
    "ScoreResult",
    "Scorecard",
    "load_scorecard",
    "read_scorecard",
    "register_method",
    "score",
    "validate_scorecard",
]
