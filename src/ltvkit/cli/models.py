"""``ltv models``: the registered models and their capability tags."""

from __future__ import annotations

from rich.table import Table

from ltvkit.cli._common import cli_errors, console, out_console


@cli_errors
def models() -> None:
    """List the registered models and their capability tags."""
    import ltvkit.models as registry

    known = registry.all_models()
    # Every tag some model declares, in the order the registry first shows it.
    tag_keys = list(dict.fromkeys(k for cls in known.values() for k in cls.tags))
    table = Table(title="models")
    table.add_column("name")
    table.add_column("tags")
    table.add_column("class")
    for name, cls in known.items():
        table.add_row(name, ", ".join(k for k in tag_keys if cls.tag(k)), cls.__name__)
    out_console.print(table)
    unavailable = getattr(registry, "unavailable_models", None)
    for module, reason in (unavailable() if unavailable else {}).items():
        console.print(f"[yellow]not loaded[/yellow] {module}: {reason}")
