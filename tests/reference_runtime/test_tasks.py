"""Background tasks: kept referenced while running, cancelled together at shutdown."""

from __future__ import annotations

import asyncio

from reference_runtime.tasks import BackgroundTasks


def test_finished_tasks_are_forgotten_and_the_rest_cancelled() -> None:
    async def main() -> tuple[int, int, bool]:
        tasks = BackgroundTasks()
        done = tasks.spawn(asyncio.sleep(0), "quick")
        slow = tasks.spawn(asyncio.sleep(3600), "slow")
        await done
        await asyncio.sleep(0)  # done callbacks run on the next loop turn
        running = len(tasks)
        await tasks.cancel_all()
        return running, len(tasks), slow.cancelled()

    assert asyncio.run(main()) == (1, 0, True)
