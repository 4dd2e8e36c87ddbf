# The twistd plugin: `twistd tcpbridge --config FILE`.  Kept tiny, since
# twistd imports every plugin on every start.
from twisted.application.service import ServiceMaker

tcpbridge = ServiceMaker(
    "tcpbridge",
    "tcpbridge.tap",
    "Wavecom GPRS modem TCP socket service over a serial line.",
    "tcpbridge",
)
