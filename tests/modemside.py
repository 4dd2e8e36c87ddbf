"""
Driving a L{tcpbridge.modem.Modem} from its serial side in unit tests: bytes
in, the exact bytes written back out.
"""

from typing import Any


class SerialSide:
    """
    A mixin for tests holding C{self.modem} connected to a
    L{twisted.internet.testing.StringTransport} at C{self.transport}.
    """

    modem: Any
    transport: Any

    def send(self, data: bytes) -> bytes:
        """
        Feed serial bytes to the modem; return what it wrote since the last call.
        """
        self.modem.dataReceived(data)
        return self.written()

    def written(self) -> bytes:
        """
        What the modem wrote to the host since the last call.
        """
        value = self.transport.value()
        self.transport.clear()
        return value

    def command(self, line: bytes) -> bytes:
        """
        Send one command line (CR added); return the answer.
        """
        return self.send(line + b"\r")
