"""
Integration tests on the real reactor for TLS on both sides of the bridge:
the real L{BridgeService} on a C{pty:} device, the test
playing the host on the pty link, and TLS clients and servers on 127.0.0.1.

The certificates are made by each test with C{cryptography}: a CA, a
server certificate for C{localhost} and 127.0.0.1, a client certificate,
and a second, unrelated CA with a client and a server certificate of its
own.  No key is kept in the repository.
"""

import datetime
import ipaddress
import os
from typing import Any, Generator, List, Optional, Sequence, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from twisted.internet import reactor, ssl
from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, wrapClientTLS
from twisted.internet.protocol import Factory
from twisted.trial.unittest import TestCase

from tcpbridge import dle
from tcpbridge.config import BridgeConfig
from tcpbridge.serial import PTY_PREFIX
from tcpbridge.service import BridgeService
from tests.hostside import WAIT, PeerServer, Receiver, freePort, listenPeer, openHost

OK = b"\r\nOK\r\n"
WAITING = b"\r\nOk_Info_WaitingForData\r\n"
CLOSED = b"\r\nOk_Info_SocketClosed\r\n\r\nOK\r\n"
TCP_OPEN_FAILED = b"\r\n#CME ERROR: 38016\r\n"


def _name(commonName: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, commonName)])


class Authority:
    """
    A certificate authority made for one test, which issues server and
    client certificates and writes everything as PEM files.
    """

    def __init__(self, name: str, directory: str) -> None:
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        public = self.key.public_key()
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.path = self._write(name + "-ca.pem", self._pem(self.certificate))

    @staticmethod
    def _pem(certificate: x509.Certificate) -> bytes:
        return certificate.public_bytes(serialization.Encoding.PEM)

    def _write(self, filename: str, data: bytes) -> str:
        path = os.path.join(self.directory, filename)
        with open(path, "wb") as f:
            f.write(data)
        return path

    @property
    def trustRoot(self) -> ssl.Certificate:
        """
        The CA certificate as Twisted uses it to verify a peer.
        """
        return ssl.Certificate.loadPEM(self._pem(self.certificate))

    def issue(
        self,
        filename: str,
        commonName: str,
        names: Sequence[str] = (),
        addresses: Sequence[str] = (),
        client: bool = False,
    ) -> Tuple[str, str, ssl.PrivateCertificate]:
        """
        A certificate signed by this CA, for a server (with these DNS names
        and IP addresses) or a client.

        @return: the paths of the certificate and key PEM files, and the
            two together as Twisted uses them.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(commonName))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        alternatives: List[x509.GeneralName] = [x509.DNSName(n) for n in names]
        alternatives += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
        if alternatives:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(alternatives), critical=False
            )
        certificate = builder.sign(self.key, hashes.SHA256())
        certPEM = self._pem(certificate)
        keyPEM = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        certPath = self._write(filename + ".pem", certPEM)
        keyPath = self._write(filename + ".key", keyPEM)
        return certPath, keyPath, ssl.PrivateCertificate.loadPEM(certPEM + keyPEM)


class TLSTests(TestCase):
    """
    TLS on the listening side (mutual, with client certificates) and on
    the dialling side (the server's chain and name checked), through the
    real service.
    """

    timeout = 60

    def setUp(self) -> None:
        ours = os.path.abspath(self.mktemp())
        theirs = os.path.abspath(self.mktemp())
        os.makedirs(ours)
        os.makedirs(theirs)
        self.ca = Authority("ca", ours)
        self.serverCert, self.serverKey, self.serverIdentity = self.ca.issue(
            "server", "localhost", names=["localhost"], addresses=["127.0.0.1"]
        )
        _, _, self.clientIdentity = self.ca.issue("client", "client", client=True)
        _, _, self.mismatchIdentity = self.ca.issue(
            "other-name", "other.example", names=["other.example"]
        )
        self.otherCA = Authority("other", theirs)
        _, _, self.otherClientIdentity = self.otherCA.issue("client", "client", client=True)
        _, _, self.otherServerIdentity = self.otherCA.issue(
            "server", "localhost", names=["localhost"], addresses=["127.0.0.1"]
        )

    # -- the pieces -------------------------------------------------------

    def startBridge(self, **kwargs: Any) -> Receiver:
        """
        Start one bridge on a fresh pty (stopped at clean-up) and open its
        host end (closed at clean-up).
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        config = BridgeConfig(
            device=PTY_PREFIX + os.path.join(directory, "host"), interface="127.0.0.1", **kwargs
        )
        service = BridgeService(config, reactor)
        service.startService()
        self.addCleanup(service.stopService)
        self.assertIsNotNone(service.modem, "the bridge did not start")
        host = openHost(config.device[len(PTY_PREFIX) :], reactor)
        self.addCleanup(host.close)
        return host

    @inlineCallbacks
    def command(self, host: Receiver, *lines: bytes) -> Generator[Deferred, Any, None]:
        """
        Send command lines, each of which must answer OK.
        """
        for line in lines:
            self.assertEqual((yield host.command(line)), OK, line)

    @inlineCallbacks
    def listeningBridge(self) -> Generator[Deferred, Any, Tuple[Receiver, int]]:
        """
        A bridge listening over TLS that requires a client certificate from
        the CA; return its host and port.
        """
        host = self.startBridge(
            tls_cert=self.serverCert, tls_key=self.serverKey, tls_ca=self.ca.path
        )
        host.write(b"ATE0\r")
        self.assertEqual((yield host.result()), b"ATE0\r" + OK)
        port = freePort()
        yield self.command(
            host, b"AT#TCPPORT=%d" % (port,), b"AT#TCPTXDELAY=0", b"AT#LTCPSTART"
        )
        return host, port

    @inlineCallbacks
    def tlsClient(
        self, port: int, identity: Optional[ssl.PrivateCertificate]
    ) -> Generator[Deferred, Any, Receiver]:
        """
        A TLS client of 127.0.0.1 C{port} that trusts the CA and presents
        C{identity} (or no certificate); aborted at clean-up.
        """
        options = ssl.optionsForClientTLS(
            "localhost", trustRoot=self.ca.trustRoot, clientCertificate=identity
        )
        endpoint = wrapClientTLS(
            options, TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=int(WAIT))
        )
        factory = Factory()
        factory.buildProtocol = (  # type: ignore[method-assign]
            lambda address: Receiver(reactor, "TLS client")
        )
        client = yield endpoint.connect(factory)
        self.addCleanup(client.close)
        return client

    @inlineCallbacks
    def assertRejected(
        self, host: Receiver, port: int, identity: Optional[ssl.PrivateCertificate]
    ) -> Generator[Deferred, Any, None]:
        """
        A client presenting C{identity} is turned away unseen: its
        connection closes with nothing received, and the host sees nothing.
        """
        client = yield self.tlsClient(port, identity)
        client.write(b"let me in")
        yield client.closed()
        self.assertEqual(bytes(client.received), b"")
        self.assertEqual((yield host.quiet(0.5)), b"")

    @inlineCallbacks
    def assertSession(self, host: Receiver, port: int) -> Generator[Deferred, Any, None]:
        """
        A client with the CA's client certificate gets the session, and
        data flows both ways, byte-exact.
        """
        client = yield self.tlsClient(port, self.clientIdentity)
        self.assertEqual((yield host.until(WAITING)), WAITING)
        toHost = os.urandom(65536)
        toClient = os.urandom(65536)
        encoded = dle.encode(toHost)
        client.write(toHost)
        host.write(dle.encode(toClient))
        atClient, atHost = yield gatherResults(
            [client.count(len(toClient)), host.count(len(encoded))], consumeErrors=True
        )
        self.assertEqual(atClient, toClient)
        self.assertEqual(atHost, encoded)
        client.transport.loseConnection()
        self.assertEqual((yield host.until(CLOSED)), b"\x03" + CLOSED)

    def startServer(self, identity: ssl.PrivateCertificate) -> Tuple[PeerServer, int]:
        """
        A TLS server on 127.0.0.1 presenting C{identity}; its port and its
        connections are closed at clean-up.
        """
        server, port = listenPeer(reactor, identity.options(), "TLS server")
        self.addCleanup(port.stopListening)
        self.addCleanup(lambda: gatherResults([r.close() for r in server.accepted]))
        return server, port.getHost().port

    @inlineCallbacks
    def dialingBridge(self, tcpserv: str, port: int) -> Generator[Deferred, Any, Receiver]:
        """
        A bridge dialling over TLS (trusting the CA) with TCPSERV and
        TCPPORT set; return its host.
        """
        host = self.startBridge(tls=True, tls_ca=self.ca.path)
        host.write(b"ATE0\r")
        self.assertEqual((yield host.result()), b"ATE0\r" + OK)
        yield self.command(
            host,
            b"AT+CMEE=1",
            b'AT#TCPSERV="%s"' % (tcpserv.encode("ascii"),),
            b"AT#TCPPORT=%d" % (port,),
            b"AT#TCPTXDELAY=0",
        )
        return host

    @inlineCallbacks
    def assertDialFails(
        self, identity: ssl.PrivateCertificate, tcpserv: str = "localhost"
    ) -> Generator[Deferred, Any, None]:
        """
        AT#OTCP to a server presenting C{identity} answers 38016, and the
        server gets the connection but no byte.
        """
        server, port = self.startServer(identity)
        host = yield self.dialingBridge(tcpserv, port)
        self.assertEqual((yield host.command(b"AT#OTCP")), TCP_OPEN_FAILED)
        connection = yield server.connection()
        yield connection.closed()
        self.assertEqual(bytes(connection.received), b"")
        self.assertEqual((yield host.command(b"AT")), OK)

    # -- listening ----------------------------------------------------------

    @inlineCallbacks
    def test_clientWithCertificate(self) -> Generator[Deferred, Any, None]:
        """
        A client with a certificate from the CA gets the session over TLS, and data flows both ways.
        """
        host, port = yield self.listeningBridge()
        yield self.assertSession(host, port)

    @inlineCallbacks
    def test_clientWithoutCertificate(self) -> Generator[Deferred, Any, None]:
        """
        A client with no certificate is turned away unseen, and listening goes on for a valid one.
        """
        host, port = yield self.listeningBridge()
        yield self.assertRejected(host, port, None)
        yield self.assertSession(host, port)

    @inlineCallbacks
    def test_clientFromOtherAuthority(self) -> Generator[Deferred, Any, None]:
        """
        A client with a certificate from another CA is turned away unseen, and listening goes on for
        a valid one.
        """
        host, port = yield self.listeningBridge()
        yield self.assertRejected(host, port, self.otherClientIdentity)
        yield self.assertSession(host, port)

    # -- dialling -----------------------------------------------------------

    @inlineCallbacks
    def test_dialByName(self) -> Generator[Deferred, Any, None]:
        """
        AT#OTCP over TLS to a server whose certificate names TCPSERV (localhost) opens the session,
        and data flows both ways.
        """
        server, port = self.startServer(self.serverIdentity)
        host = yield self.dialingBridge("localhost", port)
        host.write(b"AT#OTCP\r")
        self.assertEqual((yield host.until(WAITING)), WAITING)
        connection = yield server.connection()
        host.write(b"to the server")
        self.assertEqual((yield connection.count(13)), b"to the server")
        connection.write(b"to the host")
        self.assertEqual((yield host.count(11)), b"to the host")
        connection.transport.loseConnection()
        self.assertEqual((yield host.until(CLOSED)), b"\x03" + CLOSED)

    @inlineCallbacks
    def test_dialByAddress(self) -> Generator[Deferred, Any, None]:
        """
        AT#OTCP over TLS to TCPSERV 127.0.0.1 opens the session when the certificate names that IP
        address.
        """
        server, port = self.startServer(self.serverIdentity)
        host = yield self.dialingBridge("127.0.0.1", port)
        host.write(b"AT#OTCP\r")
        self.assertEqual((yield host.until(WAITING)), WAITING)
        connection = yield server.connection()
        connection.write(b"hello")
        self.assertEqual((yield host.count(5)), b"hello")

    @inlineCallbacks
    def test_dialNameMismatch(self) -> Generator[Deferred, Any, None]:
        """
        AT#OTCP over TLS to a server whose certificate names another host answers 38016, and the
        server receives no byte.
        """
        yield self.assertDialFails(self.mismatchIdentity, "localhost")

    @inlineCallbacks
    def test_dialAddressMismatch(self) -> Generator[Deferred, Any, None]:
        """
        AT#OTCP over TLS to TCPSERV 127.0.0.1 answers 38016 when the certificate names only another
        host.
        """
        yield self.assertDialFails(self.mismatchIdentity, "127.0.0.1")

    @inlineCallbacks
    def test_dialOtherAuthority(self) -> Generator[Deferred, Any, None]:
        """
        AT#OTCP over TLS to a server whose certificate comes from an untrusted CA answers 38016, and
        the server receives no byte.
        """
        yield self.assertDialFails(self.otherServerIdentity, "localhost")

    @inlineCallbacks
    def test_dialHandshakeTimeout(self) -> Generator[Deferred, Any, None]:
        """
        AT#OTCP over TLS to a server that never answers the handshake answers 38016 after
        connect_timeout seconds and closes the connection.
        """
        server, port = listenPeer(reactor, None, "silent server")
        self.addCleanup(port.stopListening)
        self.addCleanup(lambda: gatherResults([r.close() for r in server.accepted]))
        host = self.startBridge(tls=True, tls_ca=self.ca.path, connect_timeout=1.0)
        host.write(b"ATE0\r")
        self.assertEqual((yield host.result()), b"ATE0\r" + OK)
        yield self.command(
            host, b"AT+CMEE=1", b'AT#TCPSERV="localhost"', b"AT#TCPPORT=%d" % (port.getHost().port,)
        )
        started = reactor.seconds()
        self.assertEqual((yield host.command(b"AT#OTCP")), TCP_OPEN_FAILED)
        elapsed = reactor.seconds() - started
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 3.0)
        connection = yield server.connection()
        yield connection.closed()
        # What it got was a TLS handshake record, nothing of the host's.
        self.assertEqual(bytes(connection.received[:1]), b"\x16")

    @inlineCallbacks
    def test_etxCancelsHandshake(self) -> Generator[Deferred, Any, None]:
        """
        A bare ETX while the TLS handshake is under way cancels AT#OTCP: the host gets OK and the
        connection is closed.
        """
        server, port = listenPeer(reactor, None, "silent server")
        self.addCleanup(port.stopListening)
        self.addCleanup(lambda: gatherResults([r.close() for r in server.accepted]))
        host = self.startBridge(tls=True, tls_ca=self.ca.path, connect_timeout=20.0)
        host.write(b"ATE0\r")
        self.assertEqual((yield host.result()), b"ATE0\r" + OK)
        yield self.command(
            host, b"AT+CMEE=1", b'AT#TCPSERV="localhost"', b"AT#TCPPORT=%d" % (port.getHost().port,)
        )
        host.write(b"AT#OTCP\r")
        connection = yield server.connection()
        yield connection.count(1)
        self.assertEqual((yield host.quiet()), b"")
        host.write(b"\x03")
        self.assertEqual((yield host.result(timeout=5)), OK)
        yield connection.closed()
        self.assertEqual((yield host.command(b"AT")), OK)
