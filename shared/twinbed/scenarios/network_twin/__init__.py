"""The ``network-twin`` scenario: a digital network twin of a mobile cell (seed 003).

Yu, Liu, Chen, "Joint Communication and Synchronization Performance Optimization in Digital
Twin Enabled Networks": a BS serves U random-walking users over N OFDMA resource blocks and
decides each slot whether to spend one RB on sending the network state to the cloud twin;
otherwise the twin advances by a GRU prediction. See README.md.
"""

from twinbed.scenarios.network_twin.params import NetworkTwinParams

__all__ = ["NetworkTwinParams"]
