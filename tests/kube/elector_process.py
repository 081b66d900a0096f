"""A stand-alone process that campaigns for a Lease and "reconciles" while leading (test helper).

Run: python -m tests.kube.elector_process <kubeconfig> <lock-name>. Prints LEADING / STOPPED lines; on SIGTERM
it steps down (releasing the lease), closes its client and exits 0 with no task left pending.
"""

from __future__ import annotations

import asyncio
import sys

from mpi_operator.kube.client import Client
from mpi_operator.kube.leaderelection import LeaderElectionConfig, LeaderElector
from mpi_operator.kube.signals import install_shutdown_signals


def say(line: str) -> None:
    print(line, flush=True)


async def main(kubeconfig: str, lock: str) -> int:
    stop = install_shutdown_signals()
    async with await Client.connect(kubeconfig=kubeconfig) as client:

        async def lead() -> None:
            say("LEADING")
            await asyncio.Event().wait()  # stands in for the workers

        elector = LeaderElector(client, LeaderElectionConfig("mpi-operator", lock, lease_duration=1.5,
                                                             renew_deadline=1.0, retry_period=0.2),
                                on_started_leading=lead, on_stopped_leading=lambda: say("STOPPED"))
        campaign = asyncio.create_task(elector.run())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({campaign, stopping}, return_when=asyncio.FIRST_COMPLETED)
        campaign.cancel()
        stopping.cancel()
        await asyncio.gather(campaign, stopping, return_exceptions=True)
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    say(f"EXIT pending={len(pending)}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2])))
