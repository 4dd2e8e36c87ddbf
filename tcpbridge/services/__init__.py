"""
The service modules: each declares one family of commands and parameters
next to the code that runs them.  A new service is one module here and one
line below.
"""

from tcpbridge.registry import register
from tcpbridge.services import ftp, gsm, lines, ping, pop3, sms, smtp, standard, tcp, udp

register(standard.Standard)
register(tcp.TCP)
register(gsm.GSM)
register(lines.Lines)
register(smtp.SMTP)
register(pop3.POP3)
register(sms.SMS)
register(ftp.FTP)
register(udp.UDP)
register(ping.Ping)
