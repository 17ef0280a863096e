"""Docs stay true: the CLI reference matches --help, every doc the README links exists."""

from __future__ import annotations

import re
from pathlib import Path

from crmscore.cli.reference import render

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_is_current() -> None:
    expected = render()
    actual = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert actual == expected, "docs/cli.md is stale: run python -m crmscore.cli.reference > docs/cli.md"


def test_readme_starts_with_the_two_commands_and_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```")[1]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands[:2] == ["make demo", "make test"]
    for link in re.findall(r"\]\(([^)#]+)\)", readme):
        if not link.startswith("http"):
            assert (ROOT / link).exists(), f"README links to missing {link}"


def test_readme_library_example_runs(capsys) -> None:  # type: ignore[no-untyped-def]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = readme.split("```python", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md", "exec"), {})  # the README's own example, as a user would paste it
    out = capsys.readouterr().out
    assert "{'r': 0.243, 'alpha': 4.414, 'a': 0.793, 'b': 2.426}" in out
    assert "rfm_segment" in out
