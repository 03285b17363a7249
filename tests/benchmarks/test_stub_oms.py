"""The stub OMS of ``benchmarks/loadgen.py``: the reference adapter reads its answers as
the reference OMS's (orders confirmed, cancels applied, stock answered)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from collectors.adapter import ReferenceOmsAdapter

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from stub_oms import StubProtocol, answer


def parsed(response: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(v) for k, _, v in (x.partition(b":") for x in lines[1:])
                  if k.lower() == b"content-length")  # fmt: skip
    assert len(body) == length
    return int(lines[0].split()[1]), json.loads(body)


ADAPTER = ReferenceOmsAdapter("http://127.0.0.1:1", None)


def test_an_order_is_confirmed_with_a_fresh_id_at_a_location() -> None:
    first = ADAPTER.place_outcome(*parsed(answer(b"POST", b"/orders")))
    second = ADAPTER.place_outcome(*parsed(answer(b"POST", b"/orders")))
    assert (first.phase, second.phase) == ("ok", "ok")
    assert first.order_id != second.order_id and first.location


def test_a_cancel_is_applied_to_the_order_it_names() -> None:
    status, body = parsed(answer(b"POST", b"/orders/stub-7/cancel"))
    outcome = ADAPTER.cancel_outcome(status, body)
    assert (outcome.phase, outcome.order_id) == ("ok", "stub-7")


@pytest.mark.parametrize(
    ("method", "target", "status"),
    [(b"GET", b"/stock/SKU-00001?channel=web", 200), (b"GET", b"/nothing", 404),
     (b"DELETE", b"/orders", 404)],
    ids=["a stock check is answered", "an unknown path is not found",
         "an unknown method is not found"],
)  # fmt: skip
def test_other_calls(method: bytes, target: bytes, status: int) -> None:
    assert parsed(answer(method, target))[0] == status


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sent = b""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.sent += bytes(data)

    def is_closing(self) -> bool:
        return False


def test_pipelined_requests_split_anywhere_are_answered_in_order() -> None:
    body = b'{"lines": [{"sku": "SKU-1", "qty": 1}]}'
    wire = (b"GET /stock/SKU-1?channel=app HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /orders HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s"
            b"POST /orders/a-1/cancel HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
            % (len(body), body))  # fmt: skip
    protocol = StubProtocol(0.0)
    transport = FakeTransport()
    protocol.connection_made(transport)
    for offset in range(0, len(wire), 7):
        protocol.data_received(wire[offset : offset + 7])
    statuses = [int(part.split(b" ", 2)[1]) for part in transport.sent.split(b"HTTP/1.1")[1:]]
    assert statuses == [200, 201, 200]
