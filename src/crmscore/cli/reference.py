"""The CLI reference (docs/cli.md), generated from the commands' own --help text.

``python -m crmscore.cli.reference > docs/cli.md`` regenerates it; a test keeps the file in sync.
"""

from __future__ import annotations

from typing import Any

import typer

__all__ = ["render"]


def _context(command: Any, name: str) -> Any:
    # Typer vendors click; its command knows its own context class.
    return command.context_class(command, info_name=name, terminal_width=100, max_content_width=100)


def _walk(command: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    found = [(path, command)]
    if hasattr(command, "list_commands"):
        ctx = _context(command, " ".join(path))
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None:
                found += _walk(sub, [*path, name])
    return found


def render() -> str:
    """Markdown with the usage and options of every crmscore command.

    >>> "## `crmscore import`" in render()
    True
    """
    from crmscore.cli.main import app

    lines = ["# CLI reference", "", "Generated from `--help` (`python -m crmscore.cli.reference`).", ""]
    for path, command in _walk(typer.main.get_command(app), ["crmscore"]):
        # plain text, not Typer's rich panels (which print to the terminal instead of returning text)
        command.rich_markup_mode = None
        help_text = command.get_help(_context(command, " ".join(path))).rstrip()
        lines += [f"## `{' '.join(path)}`", "", "```", help_text, "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")
