"""
Writing to a transport straight to the kernel when nothing is queued.

Twisted's file descriptors queue every write and send it on the reactor's
next turn: two C{epoll_ctl} calls and one more turn of the loop per chunk,
which at a serial line's few bytes a read is most of what a bridge costs.
When nothing is waiting in the transport's buffer, the bytes can go out at
once in the same order, and only what the kernel does not take is queued
as before (which keeps Twisted's flow control: the producer is paused when
that queue grows).  Not under TLS, where the bytes must be encrypted first.

What a session's transport is (a plain file descriptor, or TLS from its
first byte) does not change while it lives, so a writer that writes to one
transport many times asks L{writable} once and then writes each chunk
through L{makeWriter}'s function (straight to the system call for the
serial line and a plain TCP peer, through L{sendSome} for another plain
file descriptor), rather than paying for the checks on every chunk at a
serial line's rate.
"""

from typing import Callable

from twisted.internet import abstract


def writable(transport: object) -> bool:
    """
    Whether C{transport} is a plain file descriptor that L{makeWriter} may
    write to (not TLS, whose bytes must be encrypted first).
    """
    return isinstance(transport, abstract.FileDescriptor) and not getattr(
        transport, "TLS", False
    )


def sendSome(transport: abstract.FileDescriptor) -> Callable[[bytes], int]:
    """
    A C{send} for L{makeWriter} made of C{transport}'s own C{writeSomeData}
    (for a plain file descriptor that is not a socket): the bytes taken, or
    0 where it would block or failed (the queued write meets the error
    again and reports it the usual way).
    """

    def send(data: bytes) -> int:
        written = transport.writeSomeData(data)
        return written if isinstance(written, int) and written > 0 else 0

    return send


def makeWriter(
    transport: abstract.FileDescriptor,
    send: Callable[[bytes], int],
    queue: Callable[[bytes], None],
) -> Callable[[bytes], None]:
    """
    A C{write} for a L{writable} C{transport}, made once per transport:
    C{send} (the system call, such as the socket's C{send}) takes the
    bytes now when nothing is queued, and C{queue} (the transport's own
    C{write}) queues what it did not take, or all of it when something is
    queued already, or the transport is closing.

    Given the system call itself (not L{sendSome}), this goes without the
    transport's C{writeSomeData} and its wrappers: at a serial line's rate a
    session writes each side a few dozen bytes at a time, and every layer
    between the bytes and the system call costs about as much as the bytes.
    """

    def write(data: bytes) -> None:
        if (
            not transport._tempDataLen
            and transport.offset == len(transport.dataBuffer)
            and transport.connected
            and not transport.disconnecting
            and not transport._writeDisconnecting
            and data
        ):
            try:
                written = send(data)
            except OSError:
                # Would block, or an error that the queued write meets
                # again and reports the usual way.
                written = 0
            if written == len(data):
                return
            data = data[written:]
        queue(data)

    return write
