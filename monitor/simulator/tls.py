"""TLS for the simulator: a self-signed certificate made at start, or a given pair.

The official SDKs insist on ``https://`` and ``wss://`` (the Node SDK refuses
any other scheme; the Python SDK's temporary-token call always builds
``https://``), so ``sttwatch simulate --tls`` serves both on its one port.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERT_NAME = "simulator-cert.pem"
KEY_NAME = "simulator-key.pem"
# Long enough for any test run or demo, short enough not to be a lasting trust anchor.
VALID_DAYS = 30


class TLSError(ValueError):
    """A certificate or key that cannot be served, with the file it concerns."""


def make_self_signed(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1, ::1 and localhost; return (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sttwatch simulator")])
    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        # Its own CA: a client that trusts this one file (NODE_EXTRA_CA_CERTS,
        # SSL_CERT_FILE) accepts it as both anchor and leaf.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / CERT_NAME, directory / KEY_NAME
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.touch(mode=0o600)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """Return a server context serving ``cert_file`` with ``key_file``, or raise ``TLSError``."""
    for what, path in (("certificate", cert_file), ("key", key_file)):
        try:
            path.read_bytes()
        except OSError as exc:
            raise TLSError(f"cannot read the TLS {what} {path}: {exc.strerror or exc}") from exc
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc) or exc.reason == "KEY_VALUES_MISMATCH":
            raise TLSError(
                f"the TLS key {key_file} does not belong to the certificate {cert_file}"
            ) from exc
        raise TLSError(
            f"cannot load the TLS certificate {cert_file} with the key {key_file} "
            f"(both must be PEM): {exc.reason or exc}"
        ) from exc
    return context
