"""``moderation keygen`` and ``moderation sign``: the producer's side of the ``secured`` field.

keygen writes ``<id>.signing.json`` (the producer keeps it) and ``<id>.key.json`` (the service's key
directory gets it), both mode 0600, and prints the two paths as a JSON object on its last stdout line.
sign prints each event signed, one compact JSON object per line, or rewrites the files in place keeping
their format. Either command reports a problem as one line on stderr and exits with status 2; in-place
signing writes nothing unless every file could be signed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.core.decode import decode_event
from service.core.keys import ED25519, HMAC_SHA256, MIN_SECRET, SigningKey
from service.core.reasons import Reason
from service.files.keydir import SIGNING_SUFFIX, VERIFICATION_SUFFIX, write_key_file
from service.signing import SigningError, load_signing_key, set_secured_line, sign_event


class _Failure(Exception):
    """One line for stderr; the command exits with status 2."""


def add_keygen_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("keygen", help="make a signing key and its verification key file")
    parser.add_argument("--algorithm", required=True, choices=[ED25519, HMAC_SHA256])
    parser.add_argument("--key-id", required=True, metavar="ID", help="names the key and its files")
    parser.add_argument("--provider", required=True, action="append", metavar="DOMAIN",
                        help="a provider.domain the key may sign for (repeat for several)")
    parser.add_argument("--not-before", metavar="ISO", help="first moment the key is valid, with timezone")
    parser.add_argument("--not-after", metavar="ISO", help="moment the key stops being valid, with timezone")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="directory for the two files")
    parser.set_defaults(func=lambda args: _run("keygen", _keygen, args))
    return parser


def add_sign_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("sign", help="sign event files (JSON, front matter, .jsonl)")
    parser.add_argument("--key", required=True, type=Path, metavar="FILE", help="a <id>.signing.json file")
    parser.add_argument("--in-place", action="store_true", help="rewrite the files instead of printing")
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    parser.set_defaults(func=lambda args: _run("sign", _sign, args))
    return parser


def _run(command: str, action, args: argparse.Namespace) -> int:
    try:
        action(args)
    except _Failure as exc:
        print(f"moderation {command}: {exc}", file=sys.stderr)
        return 2
    return 0


def _keygen(args: argparse.Namespace) -> None:
    material = (
        Ed25519PrivateKey.generate().private_bytes_raw() if args.algorithm == ED25519
        else secrets.token_bytes(MIN_SECRET)
    )
    try:
        key = SigningKey(args.key_id, args.algorithm, args.provider, _moment(args.not_before, "--not-before"),
                         _moment(args.not_after, "--not-after"), material)
    except ValueError as exc:
        raise _Failure(str(exc)) from None
    out = args.out.resolve()
    signing, verification = out / f"{key.key_id}{SIGNING_SUFFIX}", out / f"{key.key_id}{VERIFICATION_SUFFIX}"
    for path in (signing, verification):
        if path.exists():
            raise _Failure(f"{path} already exists; choose another --key-id or remove it")
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_key_file(signing, key)
        write_key_file(verification, key.verification_key())
    except OSError as exc:
        raise _Failure(f"cannot write the key files in {out}: {exc.strerror or exc}") from None
    print(f"signing key {signing}: keep it with the producer, never share it", file=sys.stderr)
    print(f"verification key {verification}: copy it into the service's key directory", file=sys.stderr)
    print(json.dumps({"signingKey": str(signing), "verificationKey": str(verification)}))


def _sign(args: argparse.Namespace) -> None:
    try:
        key = load_signing_key(args.key)
    except OSError as exc:
        raise _Failure(f"cannot read {args.key}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise _Failure(f"{args.key}: {exc}") from None
    results: list[tuple[Path, bytes, list[dict]]] = []
    for path in args.paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise _Failure(f"cannot read {path}: {exc.strerror or exc}") from None
        results.append((path, *_sign_file(path, data, key, rewrite=args.in_place)))
    if args.in_place:
        for path, rewritten, _ in results:
            _replace(path, rewritten)
        return
    out = sys.stdout.buffer
    for _, _, events in results:
        for event in events:
            out.write(orjson.dumps(event) + b"\n")
    out.flush()


def _sign_file(path: Path, data: bytes, key: SigningKey, rewrite: bool = True) -> tuple[bytes, list[dict]]:
    """The file's new bytes (when ``rewrite``: for --in-place) and its signed events."""
    if path.suffix == ".jsonl":  # one event per line; blank lines and line ends are kept as they were
        lines, events = data.split(b"\n"), []
        for number, line in enumerate(lines):
            if line.strip():
                events.append(_sign_value(line, key, f"{path}:{number + 1}"))
                lines[number] = orjson.dumps(events[-1]) + (b"\r" if line.endswith(b"\r") else b"")
        return b"\n".join(lines), events
    event = _sign_value(data, key, str(path))
    if not rewrite:
        return data, [event]
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"---"):
        try:
            rewritten = set_secured_line(data.decode("utf-8"), event["secured"]).encode("utf-8")
        except SigningError as exc:  # e.g. CR-only line ends: the event reads fine, the line edit cannot be made
            raise _Failure(f"{path}: cannot rewrite in place ({exc}); sign without --in-place to print it") from None
        if decode_event(rewritten) != event:  # the textual edit must change nothing but `secured`
            raise _Failure(f"{path}: cannot replace the secured line without changing the event")
        return rewritten, [event]
    if data.strip().count(b"\n"):  # a pretty-printed file stays pretty-printed
        return json.dumps(event, indent=2, ensure_ascii=False).encode("utf-8") + b"\n", [event]
    return orjson.dumps(event) + (b"\n" if data.endswith(b"\n") else b""), [event]


def _sign_value(value: bytes, key: SigningKey, source: str) -> dict:
    document = decode_event(value)
    if isinstance(document, Reason):
        raise _Failure(f"{source}: {document.message}")
    try:
        return sign_event(document, key)
    except ValueError as exc:
        raise _Failure(f"{source}: {exc}") from None


def _replace(path: Path, data: bytes) -> None:
    # Write beside the file, then rename: a reader never sees half a file, and the mode is kept.
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    except OSError as exc:
        raise _Failure(f"cannot rewrite {path}: {exc.strerror or exc}") from None


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise _Failure(f"{option}: {text!r} needs an ISO 8601 date-time with timezone: 2027-01-01T00:00Z")
    return moment
