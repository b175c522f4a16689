"""The local API: an OpenAI-compatible chat over the library, document import and search.

``create_app`` builds the FastAPI application over an ``EngineHost`` (the engine of this process);
``ApiServer`` runs it with uvicorn in a background thread with its own event loop, for both
``footnote serve`` and the window. Nothing here imports Qt.
"""

from desktop.api.app import ApiConfig, EngineHost, create_app
from desktop.api.server import ApiServer, OpenedEngine, ServerStartError

__all__ = ["ApiConfig", "ApiServer", "EngineHost", "OpenedEngine", "ServerStartError", "create_app"]
