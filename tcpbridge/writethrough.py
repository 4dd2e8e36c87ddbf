"""
Writing to a transport straight to the kernel when nothing is queued.

Twisted's file descriptors queue every write and send it on the reactor's
next turn: two C{epoll_ctl} calls and one more turn of the loop per chunk,
which at a serial line's few bytes a read is most of what a bridge costs.
When nothing is waiting in the transport's buffer, the bytes can go out at
once in the same order, and only what the kernel does not take is queued
as before (which keeps Twisted's flow control: the producer is paused when
that queue grows).  Not under TLS, where the bytes must be encrypted first.
"""

from twisted.internet import abstract


def writeThrough(transport: object, data: bytes) -> bytes:
    """
    Hand C{data} to the kernel now if C{transport} is a plain, connected
    file descriptor with nothing queued.

    @return: the bytes the kernel did not take (all of them when the
        transport is not one that can be written through): the caller
        passes them to the transport's own C{write}.
    """
    if (
        not isinstance(transport, abstract.FileDescriptor)
        or not transport.connected
        or transport.disconnecting
        or transport._tempDataLen
        or transport.offset != len(transport.dataBuffer)
        or getattr(transport, "TLS", False)
        or not data
    ):
        return data
    written = transport.writeSomeData(data)
    if not isinstance(written, int) or written <= 0:
        # Would block, or an error: the queued write meets it again and
        # reports it the usual way.
        return data
    return data[written:]
