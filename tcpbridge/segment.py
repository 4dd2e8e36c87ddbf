"""
Gathering the host's bytes into TCP segments (TCPTXDELAY).

A serial line delivers a few bytes at a time; sending each read as its own
segment wastes the network (and a GPRS tariff did too).  Bytes are held
until a full segment (one MSS) is ready, which leaves at once, or until
TCPTXDELAY milliseconds have passed since the first byte of a partial one.
A delay of 0 sends every read at once.

With many reads in each delay period, the timer is kept per period, not
per read: it is neither cancelled when a full segment leaves nor set again
for the partial one that follows; when it fires early for a younger
partial segment, it waits out that one's delay.
"""

from typing import Callable, Optional

from twisted.internet.interfaces import IDelayedCall, IReactorTime

#: Bytes in one TCP segment (an Ethernet MSS, as the modem used).
MSS = 1460


class Segmenter:
    """
    Holds at most one partial segment of host bytes for C{write}.
    """

    def __init__(
        self,
        write: Callable[[bytes], None],
        delay: float,
        clock: IReactorTime,
        mss: int = MSS,
    ) -> None:
        """
        @param delay: seconds a partial segment may wait (0: no gathering).
        """
        self._write = write
        self.delay = delay
        self.clock = clock
        self.mss = mss
        self._held = b""
        #: When the partial segment held now must leave.
        self._due = 0.0
        self._timer: Optional[IDelayedCall] = None

    @property
    def held(self) -> int:
        """
        Bytes waiting for their segment to fill or their delay to pass.
        """
        return len(self._held)

    def write(self, data: bytes) -> None:
        """
        Take bytes from the host; send every full segment now.
        """
        if self.delay <= 0:
            self._write(data)
            return
        fresh = not self._held
        held = self._held + data if self._held else data
        full = len(held) - len(held) % self.mss
        if full:
            self._write(held[:full])
            held = held[full:]
            fresh = True
        self._held = held
        if held and fresh:
            # The first byte of a new partial segment: its delay runs now.
            self._due = self.clock.seconds() + self.delay
            if self._timer is None:
                self._timer = self.clock.callLater(self.delay, self._expire)

    def _expire(self) -> None:
        self._timer = None
        if not self._held:
            return
        wait = self._due - self.clock.seconds()
        if wait > 0:
            # Set for a segment that left full; the one held now is younger.
            self._timer = self.clock.callLater(wait, self._expire)
            return
        self.flush()

    def flush(self) -> None:
        """
        Send what is held now (the delay passed, or the session closes).
        """
        self._cancel()
        held, self._held = self._held, b""
        if held:
            self._write(held)

    def discard(self) -> None:
        """
        Forget what is held (the peer is gone) and stop the timer.
        """
        self._cancel()
        self._held = b""

    def _cancel(self) -> None:
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None
