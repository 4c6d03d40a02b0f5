"""``graphrag keys create|revoke|list``: API keys for the HTTP server, each acting for one tenant. Registered on the
main app by cli.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Annotated

import typer

from graphrag.ids import DEFAULT_TENANT
from server.state import ApiKeys, open_key_store

__all__ = ["keys_app"]

keys_app = typer.Typer(no_args_is_help=True, help="API keys for the HTTP server (stored hashed; one tenant per key).")


@contextmanager
def _store(ctx: typer.Context) -> Iterator[ApiKeys]:
    """The deployment's key store: SQLite in the data directory, or Neo4j when the graph and vectors are there."""
    store = open_key_store(ctx.obj.settings())
    try:
        yield store
    finally:
        store.close()


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    tenant: Annotated[
        str, typer.Option(help="Tenant the key acts for (letters, digits, '_' and '-').")
    ] = DEFAULT_TENANT,
    name: Annotated[str, typer.Option(help="A label for listings, e.g. who holds the key.")] = "",
) -> None:
    """Create a key and print it once: only its sha256 is kept. From now on the server requires keys."""
    with _store(ctx) as store:
        record, key = store.create(tenant, name)
    typer.echo(json.dumps({**asdict(record), "key": key}, indent=2))
    typer.echo("store the key now: it cannot be shown again", err=True)


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key's id (from 'keys list').")]
) -> None:
    """Revoke a key; requests with it are refused from the next one on."""
    with _store(ctx) as store:
        record = store.revoke(key_id)
    typer.echo(f"revoked key {record.id} (tenant {record.tenant}) at {record.revoked_at}")


@keys_app.command("list")
def keys_list(ctx: typer.Context) -> None:
    """Every key's id, tenant, name and dates (never the key)."""
    with _store(ctx) as store:
        typer.echo(json.dumps([asdict(k) for k in store.list()], indent=2))
