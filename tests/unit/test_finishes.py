"""Held nudges' futures: settled from a worker's thread, registered before the offer, bounded, cleaned up."""

import asyncio
import threading

from classifier_fn.pipeline.finishes import Finishes
from classifier_fn.pipeline.queue import Item, WorkQueue

ITEM = Item("incoming", "a.jpg", "e1")


def test_a_wait_learns_the_result_from_the_workers_thread():
    finishes = Finishes(4)

    async def main():
        with finishes.expect(ITEM.identity) as future:
            threading.Thread(target=finishes.finished, args=(ITEM, "done")).start()
            return await asyncio.wait_for(future, 5)

    assert asyncio.run(main()) == "done"
    assert finishes.held == 0


def test_an_item_done_before_anyone_awaits_is_not_missed_and_others_are_not_settled():
    queue, finishes = WorkQueue(10, 10), Finishes(4)
    queue.on_done(finishes.finished)
    other = Item("incoming", "b.jpg", "e2")

    async def main():
        with finishes.expect(ITEM.identity) as mine, finishes.expect(other.identity) as theirs:
            queue.offer(ITEM)
            queue.done(queue.take(0), "failed")  # done at once, before the await
            await asyncio.sleep(0)
            return await asyncio.wait_for(mine, 5), theirs.done()

    assert asyncio.run(main()) == ("failed", False)
    assert finishes.held == 0


def test_past_the_limit_there_is_no_wait_and_a_freed_slot_is_reused():
    finishes = Finishes(1)

    async def main():
        with finishes.expect(ITEM.identity) as first:
            with finishes.expect(ITEM.identity) as second:
                assert first is not None and second is None and finishes.held == 1
        with finishes.expect(ITEM.identity) as again:
            return again is not None

    assert asyncio.run(main())


def test_a_result_after_the_wait_gave_up_is_dropped():
    finishes = Finishes(2)

    async def main():
        with finishes.expect(ITEM.identity) as future:
            try:
                await asyncio.wait_for(future, 0.01)
            except TimeoutError:
                pass
        finishes.finished(ITEM, "done")  # nobody waits: nothing to settle, nothing raised
        await asyncio.sleep(0)
        return future.cancelled()

    assert asyncio.run(main())


def test_a_worker_settles_by_identity_and_the_later_done_finds_nobody():
    finishes = Finishes(2)

    async def main():
        with finishes.expect(ITEM.identity) as future:
            finishes.settle(ITEM.identity, "done")
            finishes.finished(ITEM, "gone")  # the queue's done, after the delete: nobody waits any more
            return await asyncio.wait_for(future, 5)

    assert asyncio.run(main()) == "done"
