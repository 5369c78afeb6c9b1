"""The faster murmur2 places every key where aiokafka's DefaultPartitioner and the Java client place it."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from service.kafka.partitioner import default_partitioner, murmur2, partition_for

# org.apache.kafka.common.utils.UtilsTest#testMurmur2: the Java client's values (signed 32-bit).
JAVA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def test_the_java_clients_vectors() -> None:
    for key, signed in JAVA_VECTORS.items():
        assert murmur2(key) == signed & 0xFFFFFFFF, key


@given(st.binary(max_size=600))  # every tail length, and keys longer than the precompiled word formats
def test_same_hash_as_aiokafka(key: bytes) -> None:
    assert murmur2(key) == aiokafka_murmur2(key)


@given(st.binary(min_size=0, max_size=80), st.integers(min_value=1, max_value=64))
def test_same_partition_as_aiokafkas_default_partitioner(key: bytes, count: int) -> None:
    partitions = list(range(count))
    expected = DefaultPartitioner()(key, partitions, partitions)
    assert default_partitioner(key, partitions, partitions) == expected == partition_for(key, count)


def test_an_unkeyed_record_goes_to_an_available_partition() -> None:
    chosen = {default_partitioner(None, [0, 1, 2, 3], [1, 3]) for _ in range(200)}
    assert chosen == {1, 3}
    assert default_partitioner(None, [0, 1], []) in (0, 1)  # none available: any of them, as aiokafka does
