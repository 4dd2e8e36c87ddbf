"""
The service modules: each declares one family of commands and parameters
next to the code that runs them.  A new service is one module here and one
line below.
"""

from tcpbridge.registry import register
from tcpbridge.services import gsm, ping, standard, tcp, udp

register(standard.Standard)
register(tcp.TCP)
register(gsm.GSM)
register(udp.UDP)
register(ping.Ping)
