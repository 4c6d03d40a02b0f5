"""Route handlers, one module per resource."""

from .documents import DOCUMENT_ROUTES
from .entities import ENTITY_ROUTES
from .query import QUERY_ROUTES

__all__ = ["DOCUMENT_ROUTES", "ENTITY_ROUTES", "QUERY_ROUTES"]
