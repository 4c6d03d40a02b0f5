"""One exception tree for the whole library, each class with a stable machine-readable code.

    GraphRAGError                      graphrag_error
    ├── ConfigError                    config_error
    ├── InputError                     invalid_input
    │   ├── UnsupportedFormatError     unsupported_format
    │   ├── DocumentTooLargeError      document_too_large
    │   ├── EmptyDocumentError         empty_document
    │   ├── EncodingError              invalid_encoding
    │   └── LimitExceededError         limit_exceeded
    ├── NotFoundError                  not_found
    ├── ModelError                     model_unavailable
    │   └── ModelOutputError           model_output_invalid
    ├── IndexMismatchError             index_mismatch
    ├── AuthError                      unauthorized
    ├── RequestTimeoutError            timeout
    └── StoreError                     store_error
        └── StoreUnavailableError      store_unavailable

Third-party exceptions are wrapped at the boundary (``raise StoreError(...) from exc``) so callers,
the CLI and the HTTP layer only ever need to handle this tree.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "RequestTimeoutError",
    "ConfigError",
    "DocumentTooLargeError",
    "EmptyDocumentError",
    "EncodingError",
    "GraphRAGError",
    "IndexMismatchError",
    "InputError",
    "LimitExceededError",
    "ModelError",
    "ModelOutputError",
    "NotFoundError",
    "StoreError",
    "StoreUnavailableError",
    "UnsupportedFormatError",
]


class GraphRAGError(Exception):
    """Root of every error the library raises on purpose."""

    code = "graphrag_error"

    def __init__(self, message: str, *, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ConfigError(GraphRAGError):
    """A setting is missing, malformed or inconsistent."""

    code = "config_error"


class InputError(GraphRAGError):
    """Input supplied by a user (file, request body, question) is not acceptable."""

    code = "invalid_input"


class UnsupportedFormatError(InputError):
    """A file type or record shape the loaders do not understand (binary files included)."""

    code = "unsupported_format"


class DocumentTooLargeError(InputError):
    """A document exceeds the configured size limit."""

    code = "document_too_large"


class EmptyDocumentError(InputError):
    """A document has no text after normalisation."""

    code = "empty_document"


class EncodingError(InputError):
    """Bytes that are not valid UTF-8 text."""

    code = "invalid_encoding"


class LimitExceededError(InputError):
    """A request parameter is outside its documented bounds (question length, hops, top_k)."""

    code = "limit_exceeded"


class NotFoundError(GraphRAGError):
    """A document, entity or adapter id that does not exist."""

    code = "not_found"


class ModelError(GraphRAGError):
    """A model package is missing or could not be loaded offline."""

    code = "model_unavailable"


class ModelOutputError(ModelError):
    """A model's reply does not follow the output schema; callers fall back and count it, never patch it up."""

    code = "model_output_invalid"


class IndexMismatchError(GraphRAGError):
    """A saved vector index was built by another embedder or dimension."""

    code = "index_mismatch"


class StoreError(GraphRAGError):
    """The graph store failed to read or write."""

    code = "store_error"


class StoreUnavailableError(StoreError):
    """The graph store cannot be reached right now (retrying later may work)."""

    code = "store_unavailable"


class AuthError(GraphRAGError):
    """A request without a valid API key (missing, unknown, revoked), or from off this machine in open mode."""

    code = "unauthorized"


class RequestTimeoutError(GraphRAGError):
    """A request did not finish within ``request_timeout_s`` (the store or the models are too slow or too busy)."""

    code = "timeout"
