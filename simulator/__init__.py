"""A simulator of the upstream APIs (midjourney-proxy and useapi.net) for tests, demos and trying
hookline without a Discord account: ``hookline simulate``, or ``Simulator(Knobs(...)).app()``."""

from simulator.engine import Knobs, SentCallback, SimRequest, Simulator

__all__ = ["Knobs", "SentCallback", "SimRequest", "Simulator"]
