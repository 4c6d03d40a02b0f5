"""The ``graphrag`` command line (typer): ingest, ask, serve, stats, check, delete, extract, demo, neo4j, models,
adapters, keys.

Every GraphRAGError is printed as ``error [code]: message`` with exit status 2; no stack traces.
"""

from __future__ import annotations

import json
import os
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from graphrag.cli.keys import keys_app
from graphrag.cli.models import adapters_app, models_app
from graphrag.config import Settings
from graphrag.errors import ConfigError, GraphRAGError, InputError, NotFoundError
from graphrag.ids import DEFAULT_TENANT
from graphrag.json_text import loads_bounded
from graphrag.render import answer_to_dict, answer_to_text, community_to_dict, stats_to_dict

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help="GraphRAG question answering over your documents.")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (GRAPHRAG_DATA_DIR).")]
ConfigFile = Annotated[Path | None, typer.Option("--config", help="TOML settings file (GRAPHRAG_CONFIG).")]
Tenant = Annotated[str | None, typer.Option("--tenant", help="Tenant to read and write (GRAPHRAG_TENANT).")]


class _State:
    """Per-invocation options shared by all commands (typer's context object)."""

    def __init__(self, data_dir: Path | None, config: Path | None, tenant: str | None) -> None:
        self.data_dir = data_dir
        self.config = config
        self.tenant = tenant

    def settings(self, **overrides) -> Settings:
        return Settings.load(self.config, **{"data_dir": self.data_dir, "tenant": self.tenant, **overrides})

    def engine(self, reading: bool = False, reconcile: bool = True, **overrides):
        """The engine for these options. ``reading``: the command only reads, so a tenant with no data is an
        error naming the tenants that exist, rather than a new empty partition (a typo must not create one)."""
        from graphrag.engine import Engine

        settings = self.settings(**overrides)
        if reading:
            _require_partition(settings)
        return Engine.from_settings(settings, reconcile=reconcile)


def _require_partition(settings: Settings) -> None:
    if settings.graph_backend != "sqlite" or settings.tenant == DEFAULT_TENANT or settings.tenant_dir.exists():
        return
    root = settings.data_dir / "tenants"
    known = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    raise NotFoundError(
        f"tenant {settings.tenant!r} has no data in {settings.data_dir} (tenants with data: "
        f"{', '.join([DEFAULT_TENANT, *known])}); 'graphrag --tenant NAME ingest ...' creates one"
    )


@app.callback()
def _root(ctx: typer.Context, data_dir: DataDir = None, config: ConfigFile = None, tenant: Tenant = None) -> None:
    ctx.obj = _State(data_dir, config, tenant)


def _extractor_override(extractor: str | None) -> dict:
    """Settings override for an ``--extractor`` option (checked here so a typo is named, not a validation dump)."""
    if extractor is None:
        return {}
    if extractor not in ("encoder", "rules", "spacy"):
        raise InputError(f"--extractor must be encoder or rules, not {extractor!r}")
    return {"extractor": "rules" if extractor == "spacy" else extractor}


def _echo_json(data) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (.txt .md .html .pdf .jsonl .csv).")],
    workers: Annotated[
        int,
        typer.Option(
            min=-1,
            max=16,
            help="Extraction worker processes: 0 = in-process, -1 = one when there are 2+ cores and more than one "
            "batch (ingest_batch_size) of documents.",
        ),
    ] = -1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    extractor: Annotated[
        str | None, typer.Option(help="Relation extractor: encoder or rules (default: the extractor setting).")
    ] = None,
) -> None:
    """Ingest documents and triples into the graph and vector indexes (re-running is a no-op)."""
    with ctx.obj.engine(**_extractor_override(extractor)) as engine:
        report = engine.ingest(paths, progress=sys.stderr.isatty() or not as_json, workers=workers)
        stats = engine.stats()
    if as_json:
        _echo_json({**report.as_dict(), "stats": stats_to_dict(stats)})
    else:
        typer.echo(
            f"added {report.documents_added}, replaced {report.documents_replaced}, unchanged "
            f"{report.documents_unchanged} documents; {report.triples} triples; {report.chunks} chunks"
        )
        typer.echo(
            f"store: {stats.documents} documents, {stats.chunks} chunks, {stats.entities} entities, "
            f"{stats.relations} relations"
        )
        for problem in report.problems:
            where = f"{problem.source}:{problem.line}" if problem.line else problem.source
            typer.echo(f"skipped {where}: [{problem.code}] {problem.message}", err=True)
    if report.problems and not (
        report.documents_added or report.documents_replaced or report.documents_unchanged or report.triples
    ):
        raise typer.Exit(2)


@app.command()
def ask(
    ctx: typer.Context,
    question: Annotated[str | None, typer.Argument(help="The question.")] = None,
    questions: Annotated[Path | None, typer.Option(help="JSONL file of {id, question} to answer in batch.")] = None,
    out: Annotated[Path | None, typer.Option(help="Where batch answers go (JSONL).")] = None,
    max_hops: Annotated[int | None, typer.Option(min=1, help="Longest graph path.")] = None,
    top_k: Annotated[int | None, typer.Option(min=1, help="Evidence chunks.")] = None,
    adapter: Annotated[
        str | None, typer.Option(help="Answer with the answer LM and this adapter ('none': base LM).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Answer a question (or a JSONL file of questions with --questions/--out)."""
    if (question is None) == (questions is None):
        raise InputError("give either a QUESTION or --questions FILE")
    with ctx.obj.engine(reading=True) as engine:
        if question is not None:
            answer = engine.ask(question, max_hops=max_hops, top_k=top_k, adapter=adapter)
            typer.echo(
                json.dumps(answer_to_dict(answer), ensure_ascii=False, indent=2) if as_json else answer_to_text(answer)
            )
            return
        if out is None:
            raise InputError("--questions needs --out FILE")
        _ask_batch(engine, questions, out, max_hops, top_k, adapter)


def _ask_batch(engine, questions: Path, out: Path, max_hops, top_k, adapter: str | None = None) -> None:
    """Answer a JSONL file of questions, ``answer_batch_size`` at a time (answer_together: their replies are
    decoded in one batch), writing the answers in the file's order; a bad line is reported and skipped."""
    from tqdm import tqdm

    from graphrag.engine import Ask, answer_together

    engine.writers.pick(adapter)  # an unknown adapter is one clear error, not one per question
    try:
        lines = questions.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{questions}: cannot read questions file: {exc}") from exc
    bad = written = 0
    size = engine.settings.answer_batch_size
    with (
        out.open("w", encoding="utf-8") as sink,
        tqdm(total=len(lines), desc="answering", unit="q", disable=not sys.stderr.isatty()) as bar,
    ):
        for first in range(0, len(lines), size):
            chunk: list[tuple[int, dict]] = []
            for number, line in enumerate(lines[first : first + size], first + 1):
                if not line.strip():
                    continue
                try:
                    record = loads_bounded(line)
                    if not isinstance(record, dict) or not isinstance(record.get("question"), str):
                        raise InputError("expected an object with a 'question' string")
                except GraphRAGError as exc:
                    bad += 1
                    typer.echo(f"{questions}:{number}: {exc.message}", err=True)
                    continue
                chunk.append((number, record))
            asks = [(engine, Ask(record["question"], max_hops, top_k, adapter)) for _, record in chunk]
            for (number, record), outcome in zip(chunk, answer_together(asks)):
                if isinstance(outcome, GraphRAGError):
                    bad += 1
                    typer.echo(f"{questions}:{number}: {outcome.message}", err=True)
                    continue
                full = answer_to_dict(outcome)
                answer = {key: full[key] for key in ("answer", "confidence", "citations", "paths")}
                sink.write(json.dumps({"id": record.get("id", number), **answer}, ensure_ascii=False) + "\n")
                written += 1
            bar.update(min(size, len(lines) - first))
    typer.echo(f"wrote {written} answers to {out}" + (f"; {bad} bad lines" if bad else ""))


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (GRAPHRAG_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (GRAPHRAG_PORT).")] = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /schema)."""
    _serve(ctx.obj.settings(host=host, port=port))


def _serve(settings: Settings, engine=None) -> None:
    """Serve until stopped (Ctrl-C, SIGTERM). The server owns ``engine`` (opened here when not given): its
    shutdown closes every tenant's engine, saving the vector indexes, also when a signal stops it."""
    import uvicorn

    from server.app import create_app, startup_mode
    from server.http_protocol import JsonErrorHttpProtocol, listening_socket
    from server.observability import configure_logging
    from server.tenancy import is_loopback

    try:
        mode = startup_mode(settings)
        if mode.startswith("open") and not is_loopback(settings.host):
            raise ConfigError(
                f"refusing to serve on {settings.host} without API keys: open mode is for 127.0.0.1 only; "
                "create a key first ('graphrag keys create --tenant NAME')"
            )
        sock = listening_socket(settings.host, settings.port)  # bound before anything says "serving"
    except BaseException:
        if engine is not None:  # the demo's engine: nothing will serve it, so save and close it here
            engine.close()
        raise
    handed_over = False
    try:
        # Open the engine here, not in the app's lifespan, so an unreachable store is one clear error line.
        if engine is None:
            from graphrag.engine import Engine

            engine = Engine.from_settings(settings)
        configure_logging(settings.access_log)
        config = uvicorn.Config(
            create_app(settings, engine=engine, close_engine=True),
            log_level="warning",
            http=JsonErrorHttpProtocol,
            lifespan="on",
        )
        typer.echo(
            f"serving on http://{settings.host}:{sock.getsockname()[1]}  "
            "(analyst page: /, OpenAPI: /schema, health: /v1/health)"
        )
        handed_over = True  # from here the app's shutdown closes the engine
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        if not handed_over and engine is not None:
            engine.close()


@app.command()
def check(ctx: typer.Context) -> None:
    """Integrity check of the tenant's store and vector indexes (as left on disk: nothing is mended first).
    Prints the problem counts as JSON; exit status 1 when any is not zero."""
    with ctx.obj.engine(reading=True, reconcile=False) as engine:
        problems = engine.check_integrity()
    _echo_json({"ok": not any(problems.values()), **problems})
    if any(problems.values()):
        raise typer.Exit(1)


@app.command()
def stats(ctx: typer.Context) -> None:
    """Counts of documents, chunks, entities, relations and mentions."""
    with ctx.obj.engine(reading=True) as engine:
        _echo_json(stats_to_dict(engine.stats()))


@app.command()
def communities(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, largest first.")] = 20,
    refresh: Annotated[bool, typer.Option(help="Recompute them from the graph first.")] = False,
) -> None:
    """Communities of the entity graph (Louvain) with their extractive summaries, as JSON."""
    with ctx.obj.engine(reading=True) as engine:
        found = engine.refresh_communities()[:limit] if refresh else engine.communities(limit)
        _echo_json({"communities": [community_to_dict(c) for c in found]})


@app.command()
def delete(ctx: typer.Context, document_id: Annotated[str, typer.Argument(help="Document id (doc_...).")]) -> None:
    """Delete a document and everything only it supported."""
    with ctx.obj.engine(reading=True) as engine:
        engine.delete_document(document_id)
        typer.echo(f"deleted {document_id}")


@app.command()
def extract(
    ctx: typer.Context,
    inputs: Annotated[list[Path], typer.Argument(help="Files or folders.")],
    out: Annotated[Path | None, typer.Option(help="Output JSONL of entities and relations per document.")] = None,
    errors: Annotated[Path | None, typer.Option(help="Where to list bad files (default: OUT.errors.jsonl).")] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=1024, help="Worker processes (local) or extractor actors (ray).")
    ] = 1,
    store: Annotated[
        str | None, typer.Option(help="Also write straight into this graph store: sqlite or neo4j (local engine).")
    ] = None,
    extractor: Annotated[
        str | None, typer.Option(help="Relation extractor: encoder or rules (default: the extractor setting).")
    ] = None,
    engine: Annotated[
        str, typer.Option(help="local (this machine's processes) or ray (a Ray cluster; resumable).")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(help="Ray cluster: auto, HOST:PORT or ray://HOST:PORT (default: a local instance for this run)."),
    ] = None,
) -> None:
    """Extract entities and relations from files without embedding them (to JSONL and/or a graph store).
    'graphrag ingest OUT' loads the JSONL later, embedding it without extracting again."""
    from graphrag.indexing.batch import extract_files

    if engine not in ("local", "ray"):
        raise InputError(f"--engine must be local or ray, not {engine!r}")
    if out is None and store is None:
        raise InputError("give --out FILE, --store sqlite|neo4j, or both")
    if store not in (None, "sqlite", "neo4j"):
        raise InputError(f"--store must be sqlite or neo4j, not {store!r}")
    if engine == "ray" and (store is not None or out is None):
        raise InputError("--engine ray writes --out FILE only; load it with 'graphrag ingest FILE'")
    if address is not None and engine != "ray":
        raise InputError("--address names a Ray cluster: use it with --engine ray")
    settings = ctx.obj.settings(**({"graph_backend": store} if store else {}), **_extractor_override(extractor))
    errors = errors or (
        out.with_name(out.name + ".errors.jsonl") if out else settings.data_dir / "extract.errors.jsonl"
    )
    graph = None
    if store is not None:
        from graphrag.graph_store import open_graph_store

        graph = open_graph_store(settings)
    try:
        summary = extract_files(
            [str(p) for p in inputs],
            out,
            errors,
            settings,
            workers=workers,
            store=graph,
            engine=engine,
            address=address,
        )
    finally:
        if graph is not None:
            graph.close()
    target = " and ".join(str(t) for t in (out, f"the {store} store" if store else None) if t)
    reused = (
        f" ({summary.shards_reused} of {summary.shards} shards from an earlier run)" if summary.shards_reused else ""
    )
    typer.echo(
        f"{summary.documents} documents from {summary.files} files: {summary.entities} entities, "
        f"{summary.relations} relations -> {target}{reused}"
    )
    if summary.failed_files or summary.bad_lines:
        typer.echo(f"{summary.failed_files} files failed, {summary.bad_lines} bad lines: see {errors}", err=True)


@app.command()
def demo(
    ctx: typer.Context,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the API after answering.")] = True,
) -> None:
    """Ingest the bundled demo corpus, answer its questions with paths and citations, then serve the API."""
    demo_root = resources.files("graphrag") / "demo"
    base = ctx.obj.settings()
    settings = ctx.obj.settings(data_dir=base.data_dir / "demo")  # kept apart from the user's own store
    from graphrag.engine import Engine

    engine = Engine.from_settings(settings)
    try:
        report = engine.ingest([str(demo_root / "corpus")], progress=True)
        typer.echo(
            f"demo corpus: {report.documents_added} added, {report.documents_unchanged} unchanged; "
            f"store: {stats_to_dict(engine.stats())}\n"
        )
        shipped = _shipped_answer_adapter(engine)
        if shipped:
            typer.echo(f"answers by the default writer; '{shipped}:' lines are the adapter shipped in weights/\n")
        for line in (demo_root / "questions.jsonl").read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            typer.echo(answer_to_text(engine.ask(record["question"])))
            if shipped:
                typer.echo(f"   {shipped}: {engine.ask(record['question'], adapter=shipped).text}")
            typer.echo("")
    except BaseException:
        engine.close()
        raise
    if serve_after:
        _serve(settings, engine=engine)  # the server closes the engine when it stops
    else:
        engine.close()


def _shipped_answer_adapter(engine) -> str | None:
    """The answer adapter shipped in weights/, when the default writer is the LM without it and the LM is the base
    model the adapter was trained on (the demo shows both)."""
    writers = engine.writers
    if not writers.writes_with_lm():
        return None
    registry = writers.registry
    active = registry.active("answer")
    base = writers.language_model().resolved.sha256
    return next(
        (
            m.name
            for m in registry.list()
            if m.kind == "answer" and registry.is_shipped(m.name) and m.name != active and m.base_sha256 == base
        ),
        None,
    )


neo4j_app = typer.Typer(no_args_is_help=True, help="Run a local Neo4j server (jars from Maven Central).")
app.add_typer(neo4j_app, name="neo4j")
app.add_typer(models_app, name="models")
app.add_typer(adapters_app, name="adapters")
app.add_typer(keys_app, name="keys")


@neo4j_app.command("start")
def neo4j_start(ctx: typer.Context) -> None:
    """Install (first time) and start Neo4j on 127.0.0.1; waits until Bolt answers."""
    from graphrag.graph_store.neo4j_server import Neo4jServer

    status = Neo4jServer(ctx.obj.settings()).start()
    typer.echo(f"neo4j running (pid {status.pid}): {status.bolt}, Browser {status.http}")


@neo4j_app.command("stop")
def neo4j_stop(ctx: typer.Context) -> None:
    """Stop the local Neo4j server cleanly."""
    from graphrag.graph_store.neo4j_server import Neo4jServer

    typer.echo("neo4j stopped" if Neo4jServer(ctx.obj.settings()).stop() else "neo4j was not running")


@neo4j_app.command("status")
def neo4j_status(ctx: typer.Context) -> None:
    """Whether the local Neo4j server is installed and running."""
    from dataclasses import asdict

    from graphrag.graph_store.neo4j_server import Neo4jServer

    _echo_json(asdict(Neo4jServer(ctx.obj.settings()).status()))


def main() -> None:
    """Console entry point: run the app, turning library errors into one clear line and exit status 2."""
    import logging

    logging.getLogger("neo4j").setLevel(logging.ERROR)  # the driver's retry chatter; failures surface as errors
    try:
        code = app(standalone_mode=False)  # returns the exit code of typer.Exit instead of raising it
        sys.exit(code if isinstance(code, int) else 0)
    except GraphRAGError as exc:
        typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:  # the last line of defence: no stack trace for users unless asked
        # A usage error (bad option value): click's, or the copy of click that typer 0.2x carries inside it.
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(exc.exit_code)
        if os.environ.get("GRAPHRAG_DEBUG"):
            raise
        typer.echo(f"error [internal]: {type(exc).__name__}: {exc} (set GRAPHRAG_DEBUG=1 for details)", err=True)
        sys.exit(1)
