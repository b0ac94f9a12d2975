"""The results collector keeps every datagram a container sent, and stops once they are drained."""

from __future__ import annotations

import socket

from actors.execution import ResultsCollector


def test_finish_drains_every_queued_result_then_stops(tmp_path, stores):
    collector = ResultsCollector(tmp_path / "results.sock", stores, "e1", max_bytes=1 << 20)
    collector.start()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as container:
        for n in range(3):
            container.sendto(f"result {n}".encode(), str(tmp_path / "results.sock"))
        container.sendto(b"", str(tmp_path / "results.sock"))        # an empty result is a result too
    collector.finish()
    assert not collector.is_alive()
    assert collector.count == 4 and collector.dropped == 0
    assert [stores.results.pop_list("e1") for _ in range(4)] == [b"result 0", b"result 1", b"result 2", b""]
    assert stores.results.pop_list("e1") is None                    # the wake-up datagram is not kept
