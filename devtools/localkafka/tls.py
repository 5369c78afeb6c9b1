"""A throwaway CA and a server certificate for 127.0.0.1, as PEM files Kafka reads directly.

Kafka (KIP-651, since 2.7) takes `ssl.keystore.type=PEM`: the keystore file holds the unencrypted PKCS#8
private key followed by the certificate chain, the truststore file holds CA certificates. No keytool, no
JKS passwords. EC P-256 keys make generation take milliseconds.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TlsFiles:
    ca_file: Path  # CA certificate: the broker's truststore and the clients' cafile
    keystore: Path  # server private key + certificate chain


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _cert(subject, issuer, public_key, signing_key, *, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    else:
        sans = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        server_auth = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
        builder = builder.add_extension(server_auth, critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def write_tls_files(directory: Path) -> TlsFiles:
    """Create (or reuse, so a restarted broker keeps its identity) the CA and server PEM files."""
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(ca_file=directory / "ca.pem", keystore=directory / "server-keystore.pem")
    if files.ca_file.exists() and files.keystore.exists():
        return files
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("localkafka test CA")
    ca_cert = _cert(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert(_name("127.0.0.1"), ca_cert.subject, key.public_key(), ca_key, ca=False)
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    files.keystore.write_bytes(key_pem + cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    files.keystore.chmod(0o600)
    files.ca_file.write_bytes(ca_cert.public_bytes(pem))
    return files
