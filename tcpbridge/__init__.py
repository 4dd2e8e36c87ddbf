"""
tcpbridge: a stand-in for a Wavecom GPRS modem's TCP socket service.

A host on a serial line speaks the modem's AT# dialect; tcpbridge answers it
as the modem did and carries its TCP sessions over the machine's network.
"""

__version__ = "0.1.0"
