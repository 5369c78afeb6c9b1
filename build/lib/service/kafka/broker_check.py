"""A start-up check that the brokers accept our credentials and certificate, so a wrong one fails fast and clearly.

aiokafka reports a refused SASL login or an untrusted certificate only as ``KafkaConnectionError("Unable to
bootstrap from ...")`` and the loop would retry it forever. One direct connection per bootstrap address (the
same handshake aiokafka does: TLS, ApiVersions, SASL) tells the two kinds apart:

- refused (wrong password, unknown mechanism, certificate not trusted): a configuration error; the service stops.
- unreachable (refused port, timeout): maybe transient; the loop starts and keeps retrying with back-off.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    IllegalSaslStateError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from service.settings import Settings

REFUSED = (SaslAuthenticationFailed, AuthenticationFailedError, UnsupportedSaslMechanismError, IllegalSaslStateError,
           ssl.SSLError)


@dataclass(frozen=True)
class BrokerCheck:
    ok: bool  # at least one bootstrap address completed the handshake
    refused: str | None = None  # why the brokers refused us (configuration), if they did
    unreachable: str | None = None  # why no broker answered, if none did


def _addresses(bootstrap: str) -> list[tuple[str, int]]:
    out = []
    for item in bootstrap.split(","):
        host, _, port = item.strip().rpartition(":")
        out.append((host.strip("[]") or "localhost", int(port or 9092)))
    return out


async def check_brokers(settings: Settings) -> BrokerCheck:
    """Handshake with each bootstrap address in turn until one succeeds or refuses us; never raises."""
    security = settings.kafka_security()
    timeout = settings.connect_timeout_s
    unreachable = "no bootstrap servers"
    for host, port in _addresses(settings.bootstrap_servers):
        try:
            conn = await asyncio.wait_for(
                create_conn(host, port, client_id=f"{settings.client_id}-check",
                            request_timeout_ms=int(timeout * 1000), **security),
                timeout=timeout,
            )
        except REFUSED as exc:
            return BrokerCheck(False, refused=f"{host}:{port} refused the connection: {_describe(exc)}")
        except Exception as exc:  # refused port, timeout, connection reset: the loop retries these
            unreachable = f"{host}:{port}: {_describe(exc)}"
            continue
        conn.close()
        return BrokerCheck(True)
    return BrokerCheck(False, unreachable=unreachable)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({exc.verify_message}); check ssl_cafile"
    if isinstance(exc, SaslAuthenticationFailed | AuthenticationFailedError):
        return f"SASL authentication failed ({exc}); check sasl_username, sasl_password and sasl_mechanism"
    if isinstance(exc, TimeoutError):
        return "timed out (connect_timeout_s); check bootstrap_servers and security_protocol"
    return f"{type(exc).__name__}: {exc}"
