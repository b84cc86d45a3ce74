"""TLS for tests: a self-signed certificate for 127.0.0.1 made on the spot (with
``cryptography``), and a :class:`~federate.testing.faults.FaultProxy` that speaks TLS with
it in front of a plain-HTTP server, so clients' CA-bundle and no-verify settings meet a
real handshake."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from pathlib import Path

from federate.testing.faults import FaultProxy


def self_signed(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """``(cert.pem, key.pem)`` in ``directory``: a CA certificate valid for ``host`` (an IP
    address) for an hour, its own issuer."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class TlsProxy(FaultProxy):
    """A :class:`FaultProxy` that speaks TLS; ``connections`` counts the connections
    clients opened (handshakes tried, whether they succeeded or not)."""

    def __init__(self, upstream: str, cert: Path, key: Path) -> None:
        super().__init__(upstream)
        self.connections = 0
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server = self._server
        server.socket = context.wrap_socket(server.socket, server_side=True)
        accept = server.get_request

        def counted() -> tuple[socket.socket, object]:
            self.connections += 1  # one thread accepts: no lock needed
            return accept()

        server.get_request = counted  # type: ignore[method-assign]

    @property
    def url(self) -> str:
        return super().url.replace("http://", "https://", 1)


def start_tls_proxy(upstream: str, cert: Path, key: Path) -> tuple[TlsProxy, str]:
    """A started proxy terminating TLS in front of ``upstream`` and its ``https://`` URL;
    stop it with ``proxy.stop()``."""
    proxy = TlsProxy(upstream, cert, key)
    proxy.start()
    return proxy, proxy.url
