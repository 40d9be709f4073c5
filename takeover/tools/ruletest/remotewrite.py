"""Samples written into the throwaway Prometheus by remote write, staleness markers included (what
a backfill cannot hold): a WriteRequest protobuf, snappy-framed, both encoded here (a dozen lines
each, literal snappy blocks only) rather than adding protobuf and snappy as dependencies.

Prometheus must run with `--web.enable-remote-write-receiver` and an out-of-order window covering
the samples, since its blocks already hold later inputs (tsdb.serving does both).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence

from takeover.rules.evaluate import Labels

STALE = "stale"  # a staleness marker, written as Prometheus's StaleNaN
STALE_NAN_BITS = 0x7FF0000000000002
BATCH = 20_000  # samples per request

Point = tuple[int, float | str]  # (milliseconds since the epoch, value or STALE)
Series = tuple[Labels, Sequence[Point]]  # labels (sorted, __name__ included) and points in time order


def write(url: str, series: Iterable[Series]) -> None:
    """Write `series` into the Prometheus at `url`; RuntimeError with its answer if it refuses."""
    import httpx

    headers = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
               "X-Prometheus-Remote-Write-Version": "0.1.0"}
    for body in _requests(series):
        answer = httpx.post(f"{url}/api/v1/write", content=_snappy(body), headers=headers, timeout=60)
        if answer.status_code >= 300:
            raise RuntimeError(f"remote write to the test Prometheus failed: {answer.status_code} {answer.text}")


def _requests(series: Iterable[Series]) -> Iterator[bytes]:
    """WriteRequest bodies of about BATCH samples each."""
    parts: list[bytes] = []
    count = 0
    for labels, points in series:
        for start in range(0, len(points), BATCH):
            chunk = points[start:start + BATCH]
            parts.append(_field(1, _time_series(labels, chunk)))
            count += len(chunk)
            if count >= BATCH:
                yield b"".join(parts)
                parts, count = [], 0
    if parts:
        yield b"".join(parts)


def _time_series(labels: Labels, points: Sequence[Point]) -> bytes:
    encoded = [_field(1, _field(1, name.encode()) + _field(2, value.encode())) for name, value in labels]
    for ms, value in points:
        bits = STALE_NAN_BITS if isinstance(value, str) else struct.unpack("<Q", struct.pack("<d", value))[0]
        encoded.append(_field(2, b"\x09" + struct.pack("<Q", bits) + b"\x10" + _varint(ms)))  # double, varint
    return b"".join(encoded)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1  # a negative int64 as protobuf writes it
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _snappy(data: bytes) -> bytes:
    """Snappy's block format with literals only: valid, uncompressed."""
    out = [_varint(len(data))]
    for start in range(0, len(data), 65536):
        chunk = data[start:start + 65536]
        n = len(chunk) - 1
        out.append((bytes([n << 2]) if n < 60 else bytes([61 << 2]) + struct.pack("<H", n)) + chunk)
    return b"".join(out)
