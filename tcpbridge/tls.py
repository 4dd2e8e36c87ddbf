"""
TLS on both sides of the bridge: what the modem sent in
clear over GPRS can be protected without the host knowing.

Listening side: C{tls_cert} and C{tls_key} make the listening socket speak
TLS; C{tls_ca} also requires a client certificate signed by that CA.
Client side: C{tls = on} makes C{AT#OTCP} open TLS, checking the server's
chain against C{tls_ca} (or the system's trust store) and its name against
C{TCPSERV} with service-identity (through Twisted's C{optionsForClientTLS}).
"""

from typing import Optional

from twisted.internet import ssl
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator


class TLSError(Exception):
    """
    A certificate or key file cannot be used; the message says which and
    why.
    """


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise TLSError("cannot read the %s %s: %s" % (what, path, e.strerror or e))


def loadAuthority(path: str) -> ssl.Certificate:
    """
    The CA certificate in the PEM file at C{path}.
    """
    try:
        return ssl.Certificate.loadPEM(_read(path, "CA certificate"))
    except TLSError:
        raise
    except Exception as e:
        raise TLSError("%s: not a PEM certificate (%s)" % (path, e))


def loadIdentity(certPath: str, keyPath: str) -> ssl.PrivateCertificate:
    """
    A certificate and its private key, from two PEM files (they may be the
    same file).
    """
    cert = _read(certPath, "certificate")
    key = _read(keyPath, "private key")
    try:
        return ssl.PrivateCertificate.loadPEM(cert + b"\n" + key)
    except Exception as e:
        raise TLSError("%s, %s: not a PEM certificate and matching key (%s)" % (certPath, keyPath, e))


def serverOptions(certPath: str, keyPath: str, caPath: Optional[str] = None) -> ssl.CertificateOptions:
    """
    Options for the listening side; with C{caPath}, a client certificate
    signed by that CA is required.
    """
    identity = loadIdentity(certPath, keyPath)
    if caPath:
        return identity.options(loadAuthority(caPath))
    return identity.options()


def clientOptions(
    hostname: str,
    caPath: Optional[str] = None,
    certPath: Optional[str] = None,
    keyPath: Optional[str] = None,
) -> IOpenSSLClientConnectionCreator:
    """
    Options for C{AT#OTCP} over TLS to C{hostname} (a name or an IP
    address): the chain is checked against C{caPath} or the platform's
    trust store, the name against C{hostname}.
    """
    trustRoot = loadAuthority(caPath) if caPath else ssl.platformTrust()
    clientCertificate = loadIdentity(certPath, keyPath) if certPath and keyPath else None
    return ssl.optionsForClientTLS(
        hostname, trustRoot=trustRoot, clientCertificate=clientCertificate
    )
