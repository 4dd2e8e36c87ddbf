"""
The FTP service: C{AT#FTPGET} and C{AT#FTPPUT}, one file per command, and
their parameters (C{AT#VFTP}).

A transfer connects to C{FTPSERV}, logs in (anonymously when C{FTPUN} is
empty), sets the type, changes to the path when one is set, and moves the
file through Twisted's own FTP client, passive by default.  Once the server
accepts the transfer, the file crosses a data-mode session: downloaded, it
reaches the host DLE-coded and ends with a bare ETX, then C{OK} once the
server has confirmed it; uploaded, the host sends it DLE-coded and ends it
with a bare ETX, then C{OK} once the server has confirmed it.  Either way
the file streams with backpressure: it never sits in memory whole.
"""

from typing import Any, List, Optional

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.error import ConnectionDone, ConnectionLost, DNSLookupError
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure

from tcpbridge.atcommands import Command
from tcpbridge.ftpdata import Client, DataLink, Download, replyCode
from tcpbridge.parameters import BadValue, Parameter, integer, server, text
from tcpbridge.registry import CONNECTING, CommandSpec, Service
from tcpbridge.results import BAD_VALUE, DNS_FAILED, FINAL, TCP_OPEN_FAILED, ATError

# CME error codes of the FTP service.
LOGIN_REFUSED = 37952  # the server refused the user name or the password
FILE_REFUSED = 37953  # no such file or directory, or no permission for it
TRANSFER_FAILED = 37954  # the data connection failed, or the transfer broke off
SERVER_SILENT = 37964  # the server gave no answer in time (as for mail)

#: The final answer of a transfer the server confirmed.
OK = ("OK",)

#: Reply codes by which a server refuses a file or a directory.
_FILE_CODES = (450, 550, 551, 552, 553)


def _serverOrEmpty(value: str) -> str:
    return value if value == "" else server(value)


def _ftpType(value: str) -> str:
    if value.upper() not in ("A", "I"):
        raise BadValue("not A or I: %r" % (value,))
    return value.upper()


def _ftp(name: str, default: object, parse: object, allowed: str, quoted: bool = False) -> Parameter:
    return Parameter(name, default, parse, allowed, quoted=quoted, listing="#VFTP")  # type: ignore[arg-type]


_STRING = '"<up to 120 characters>"'


class FTP(Service):
    """
    One bridge's FTP service: at most one transfer at a time.
    """

    log = Logger()

    name = "ftp"
    commands = {
        "#VFTP": CommandSpec("listing", "as", "#VFTP: (1-2)"),
        "#FTPGET": CommandSpec("ftpget", "as", "#FTPGET: (1-2)"),
        "#FTPPUT": CommandSpec("ftpput", "as", "#FTPPUT: (1-2)"),
    }
    parameters = [
        _ftp("#FTPSERV", "", _serverOrEmpty, '"<IPv4 address or host name>"', quoted=True),
        _ftp("#FTPPORT", 21, integer(1, 65535), "(1-65535)"),
        _ftp("#FTPUN", "", text(120), _STRING, quoted=True),
        _ftp("#FTPPW", "", text(120), _STRING, quoted=True),
        _ftp("#FTPTYPE", "I", _ftpType, "(A,I)"),
        _ftp("#FTPMODE", 0, integer(0, 1), "(0-1)"),
        _ftp("#FTPGETFILENAME", "", text(120), _STRING, quoted=True),
        _ftp("#FTPGETPATH", "", text(120), _STRING, quoted=True),
        _ftp("#FTPPUTFILENAME", "", text(120), _STRING, quoted=True),
        _ftp("#FTPPUTPATH", "", text(120), _STRING, quoted=True),
    ]

    def __init__(self, modem: Any) -> None:
        Service.__init__(self, modem)
        self.transfer: Optional["Transfer"] = None

    def ftpget(self, command: Command) -> Deferred:
        return self._start(command, upload=False)

    def ftpput(self, command: Command) -> Deferred:
        return self._start(command, upload=True)

    def _start(self, command: Command, upload: bool) -> Deferred:
        m = self.modem
        pid = m.ipStart(command)
        get = m.profile.get
        which = "PUT" if upload else "GET"
        host, filename = get("#FTPSERV", pid), get("#FTP%sFILENAME" % (which,), pid)
        if not host or not filename:
            raise ATError(BAD_VALUE)
        m.claim(self, pid, CONNECTING)
        transfer = self.transfer = Transfer(self, upload, pid)
        transfer.run()
        return transfer.answer

    def done(self, transfer: "Transfer") -> None:
        if self.transfer is transfer:
            self.transfer = None

    def cancel(self, why: str) -> None:
        if self.transfer is not None and self.modem.state == CONNECTING:
            self.transfer.abandon(why)

    def shutdown(self) -> None:
        if self.transfer is not None:
            self.transfer.abandon("the serial line is closing")


class _ClientFactory(Factory):
    noisy = False

    def __init__(self, client: Client) -> None:
        self.client = client

    def buildProtocol(self, addr: Any) -> Client:
        self.client.factory = self
        return self.client


class Transfer:
    """
    One C{AT#FTPGET} or C{AT#FTPPUT}, from the connection to the final
    answer.

    @ivar answer: what the command line waits on: fires (C{FINAL}) once the
        session opens, or fails with the CME error before it.
    """

    log = Logger()

    def __init__(self, service: FTP, upload: bool, pid: int) -> None:
        self.service = service
        self.modem = m = service.modem
        self.reactor = m.reactor
        self.upload = upload
        get = m.profile.get
        which = "PUT" if upload else "GET"
        self.host = str(get("#FTPSERV", pid))
        self.port = int(get("#FTPPORT", pid))
        self.user = str(get("#FTPUN", pid))
        self.password = str(get("#FTPPW", pid))
        self.type = str(get("#FTPTYPE", pid))
        self.passive = get("#FTPMODE", pid) == 0
        self.filename = str(get("#FTP%sFILENAME" % (which,), pid))
        self.path = str(get("#FTP%sPATH" % (which,), pid))
        self.timeout = m.config.ftp_timeout
        self.answer: Deferred = Deferred()
        self.client = Client(self.reactor, self.passive, self._reply)
        self.link = DataLink(self.reactor, upload, self._open)
        self.session: Any = None
        self.transferQueued = False
        self.accepted = False
        self._outcome: Any = None
        self._finishing: List[Deferred] = []
        self.ended = False
        self._connecting: Optional[Deferred] = None
        self._timer: Optional[IDelayedCall] = None

    def describe(self) -> str:
        return "%s %s:%d %s/%s" % (
            "upload to" if self.upload else "download from",
            self.host,
            self.port,
            self.path,
            self.filename,
        )

    # -- the steps ---------------------------------------------------------------

    @inlineCallbacks
    def run(self) -> Any:
        self.log.info("{bridge}: FTP {what}", bridge=self.modem.name, what=self.describe())
        self._arm()
        # IPv4, as on the modem: PASV and PORT carry IPv4 addresses.
        endpoint = TCP4ClientEndpoint(
            self.reactor, self.host, self.port, timeout=self.modem.config.connect_timeout
        )
        self._connecting = endpoint.connect(_ClientFactory(self.client))
        try:
            yield self._connecting
        except Exception:
            self._connecting = None
            f = Failure()
            self._end(DNS_FAILED if f.check(DNSLookupError) else TCP_OPEN_FAILED, f)
            return
        self._connecting = None
        c = self.client
        step = LOGIN_REFUSED
        try:
            reply = yield c.queueStringCommand("USER " + (self.user or "anonymous"))
            if not reply[-1].startswith("230"):
                anonymous = "" if self.user else "anonymous@"
                yield c.queueStringCommand("PASS " + (self.password or anonymous))
            step = TRANSFER_FAILED
            yield c.queueStringCommand("TYPE " + self.type)
            step = FILE_REFUSED
            if self.path:
                yield c.cwd(self.path)
            step = TRANSFER_FAILED
            self.transferQueued = True
            if self.upload:
                connected, done = c.storeFile(self.filename)
                connected.addCallback(self._sending)
            else:
                done = c.retrieveFile(self.filename, Download(self.link))
            yield done
        except Exception:
            f = Failure()
            code = replyCode(f)
            if step == LOGIN_REFUSED:
                step = LOGIN_REFUSED if code is not None and code >= 500 else TCP_OPEN_FAILED
            elif code in _FILE_CODES or (step == FILE_REFUSED and code is not None):
                step = FILE_REFUSED
            self._end(step, f)
            return
        self._end(None)

    def _sending(self, sender: Any) -> None:
        """
        An upload's data connection is open.
        """
        self.link.connected(sender.transport)
        sender.deferred.addBoth(self._senderLost)

    def _senderLost(self, result: object) -> None:
        # Twisted's sender fires "connection done" on a clean close, and
        # the failure (consumed by its list of deferreds: None) otherwise.
        why = ConnectionDone() if result == "connection done" else ConnectionLost()
        self.link.lost(Failure(why))

    def _reply(self, line: bytes) -> None:
        """
        A reply line from the server: it is not silent; a preliminary or
        positive reply to the transfer command means it accepted it.
        """
        self._arm()
        c = self.client
        if self.transferQueued and not c.actionQueue and not self.accepted:
            if c.nextDeferred is not None and line[:1] in b"12":
                self.accepted = True
                self._open()

    def _open(self) -> None:
        """
        Open the session once the server has accepted the transfer and the
        data connection is there.
        """
        if not self.accepted or self.link.transport is None or self.session or self.ended:
            return
        m = self.modem
        peer = self.link.getPeer()
        description = "FTP %s:%s" % (getattr(peer, "host", "?"), getattr(peer, "port", "?"))
        result = "Ok_Info_WaitingForData" if self.upload else "Ok_Info_DataBegin"
        self.session = m.openSession(self.link, True, 0, description, result, self._finish)
        self.answer.callback(FINAL)
        self.link.opened(self.session)

    def _finish(self) -> Deferred:
        """
        The session has ended: its final answer, once the server has
        confirmed the transfer (or the CME error).
        """
        d: Deferred = Deferred()
        if self._outcome is None:
            self._finishing.append(d)
        else:
            self._settle(d)
        return d

    def _settle(self, d: Deferred) -> None:
        if self.upload and self.link.dropped and self._outcome is OK:
            # The data connection closed before the host's end of file.
            self._outcome = TRANSFER_FAILED
        if self._outcome is OK:
            d.callback(OK)
        else:
            d.errback(ATError(self._outcome))

    # -- silence --------------------------------------------------------------------

    def _arm(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if not self.ended and self.timeout:
            self._timer = self.reactor.callLater(self.timeout, self._silent)

    def _silent(self) -> None:
        """
        Nothing from the server for the time-out: give up, unless the
        bridge is what waits (the host holding a download, or still sending
        an upload).
        """
        self._timer = None
        session = self.session
        if session is not None and not session.answered:
            if self.upload and not self.link.hostClosed:
                return self._arm()
            if not self.upload and self.link.paused:
                return self._arm()
        self.log.info("{bridge}: FTP server silent", bridge=self.modem.name)
        self._end(SERVER_SILENT)

    # -- the end ---------------------------------------------------------------------

    def abandon(self, why: str) -> None:
        """
        Stop now (the host's ETX while connecting, the serial line lost).
        """
        self._end(None if why == "cancelled by the host" else TRANSFER_FAILED, why=why)

    def _end(self, code: Optional[int], failure: Optional[Failure] = None, why: str = "") -> None:
        """
        The transfer is over: C{code} is the CME error, or None if it
        succeeded (or the host cancelled it before it started).
        """
        if self.ended:
            return
        self.ended = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self.log.info(
            "{bridge}: FTP {what}: {outcome}",
            bridge=self.modem.name,
            what=self.describe(),
            outcome=why
            or ("done" if code is None else "error %d (%s)" % (code, _reason(failure))),
        )
        if self._connecting is not None:
            self._connecting.cancel()
        self._close()
        self.service.done(self)
        if self.session is None:
            self.modem.release()
            if not self.answer.called:
                if code is None:
                    self.answer.callback(None)
                else:
                    self.answer.errback(ATError(code))
            return
        if not self.session.answered:
            self.link.fail()
        self._outcome = OK if code is None else code
        finishing, self._finishing = self._finishing, []
        for d in finishing:
            self._settle(d)

    def _close(self) -> None:
        """
        Say goodbye to the server and close the control connection
        (without waiting for its answer) and any data connection.
        """
        transport = self.client.transport
        if transport is not None and self.client.lost is None:
            self.client.sendLine("QUIT")
            transport.loseConnection()
        if self.session is None and self.link.transport is not None:
            self.link.transport.abortConnection()


def _reason(failure: Optional[Failure]) -> str:
    if failure is None:
        return "time-out"
    code = replyCode(failure)
    return "server replied %d" % (code,) if code else failure.getErrorMessage()

