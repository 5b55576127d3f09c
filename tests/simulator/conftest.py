"""The simulator's tests share the upstream suite's fixtures (a simulator on a real uvicorn server)."""

from tests.upstream.conftest import image_server, sim, sim_factory, upstreams

__all__ = ["image_server", "sim", "sim_factory", "upstreams"]
