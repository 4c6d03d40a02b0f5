"""The ``graphrag`` command line (typer)."""
