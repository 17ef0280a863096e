"""Built-in scorecard templates (YAML files next to this module).

>>> sorted(TEMPLATES)
['b2b-default', 'b2c-retail']
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["TEMPLATES", "template_path"]

_DIR = Path(__file__).parent
TEMPLATES: dict[str, Path] = {p.stem: p for p in sorted(_DIR.glob("*.yaml"))}


def template_path(name: str) -> Path | None:
    """The YAML file of a built-in template, or None."""
    return TEMPLATES.get(name)
