"""The waiting nudge between the frontend and the function (`POST /nudge?wait=S`): one place for what both
sides must agree on. The frontend's nudge waits until the function says how the worker ended with the photo; an
answer in WAKING wakes the page's long-poll, which then reads the record at once.
"""

from __future__ import annotations

MAX_HOLD_S = 10.0  # the longest wait the function accepts; a photo takes well under a second
HOLD_S = 3.0  # what the frontend asks for: past it, the page's own polling is as good
HELD = 32  # nudges waiting at once on each side (the function: at most a quarter of its connection limit)

# The worker's results (classifier_fn.pipeline.worker.Result) after which the record is worth reading at once: it is
# final, failed for now, or another worker's final one; "gone" (an admission) when the photo was already done
# before the nudge came. Not: busy, stale, unavailable, a folder marker (no record, and no upload), or a
# worker's bug: the record has not moved.
WAKING = frozenset({"done", "rejected", "failed", "finished", "overtaken", "gone"})
