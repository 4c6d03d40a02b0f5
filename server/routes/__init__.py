"""Route handlers, one module per resource."""

from server.routes.documents import DOCUMENT_ROUTES
from server.routes.entities import ENTITY_ROUTES
from server.routes.layout import LAYOUT_ROUTES
from server.routes.query import QUERY_ROUTES

__all__ = ["DOCUMENT_ROUTES", "ENTITY_ROUTES", "LAYOUT_ROUTES", "QUERY_ROUTES"]
