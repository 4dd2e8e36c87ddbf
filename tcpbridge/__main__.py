"""
C{python -m tcpbridge}: the L{tcpbridge.cli} command.
"""

from tcpbridge.cli import run

run()
