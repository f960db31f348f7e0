"""``sw.host``: talk to a board running ``hw.build``'s bitstream over its UART (pyserial)."""

from sw.host.driver import SNNDevice
from sw.host.protocol import DeviceInfo, ProtocolError, SampleReply

__all__ = ["SNNDevice", "DeviceInfo", "SampleReply", "ProtocolError"]
