"""The private aiokafka attributes the service touches are confined to service/kafka/aiokafka_compat.py."""

from __future__ import annotations

import ast
from pathlib import Path

import aiokafka
from aiokafka import AIOKafkaProducer
from aiokafka.client import AIOKafkaClient
from aiokafka.producer.transaction_manager import TransactionState

SERVICE = Path(__file__).parents[2] / "service"
COMPAT = SERVICE / "kafka" / "aiokafka_compat.py"
PRIVATE = {"_partitioner", "_metadata", "_wait_on_metadata", "_message_accumulator", "_sender", "_txn_manager"}


def private_uses(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr in PRIVATE}


def test_only_the_compatibility_module_reaches_into_aiokafka():
    offenders = {str(path.relative_to(SERVICE)): uses for path in SERVICE.rglob("*.py")
                 if path != COMPAT and (uses := private_uses(path))}
    assert offenders == {}
    assert private_uses(COMPAT) == PRIVATE


def test_the_installed_aiokafka_still_has_what_the_compatibility_module_borrows():
    producer_init = AIOKafkaProducer.__init__.__code__.co_names
    assert {"_partitioner", "_metadata", "_message_accumulator", "_sender", "_txn_manager"} <= set(producer_init), (
        f"aiokafka {aiokafka.__version__} changed its producer internals: review aiokafka_compat.py")
    assert hasattr(AIOKafkaClient, "_wait_on_metadata")
    assert {"IN_TRANSACTION", "ABORTABLE_ERROR"} <= set(TransactionState.__members__)
