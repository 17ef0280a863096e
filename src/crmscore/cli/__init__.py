"""The command-line interface (Typer). Commands are thin: they parse, call a service, print."""
