"""The capacity probe runs end to end (server, writer and watcher processes) and loses no event."""

from __future__ import annotations

from mpi_operator.bench.capacity_probe import measure


async def test_capacity_probe_delivers_every_write_to_every_watcher() -> None:
    result = await measure(writes=200, writer_processes=1, watchers=3, concurrency=8)
    assert result["writes"] == 200 and result["events_delivered"] == 600
    assert result["writes_per_second"] > 0
