"""Interpreter settings that make a worker process cheap to run."""

from __future__ import annotations

import gc
import sys
from typing import Final

#: Thresholds of the cyclic garbage collector in a worker (Python's default: 700, 10, 10).
GC_THRESHOLDS: Final = (50_000, 20, 10)
#: How long a thread may hold the GIL while another waits for it (Python's default: 5 ms).
SWITCH_INTERVAL_S: Final = 0.05


def tune_interpreter() -> None:
    """Make the garbage collector and the GIL cheap for a worker; call once start-up is done.

    A worker allocates millions of short-lived objects per second (events,
    keys, tuples); with the default thresholds the collector ran so often, over
    a heap holding the windows and de-duplication ids, that it doubled the cost
    of the windowing step (``bench/streams_worker.py``: 5.5 µs → 3.2 µs of CPU
    per event). Objects alive at start-up (modules, faust's services) are
    frozen out of collections; cycles are still collected, less often.

    faust's consumer runs in a thread of its own: with the default switch
    interval the two threads took the GIL from each other every 5 ms while a
    batch was computed (streams worker, 1M events: 154k–169k events/s; with
    50 ms: 185k–189k). The consumer thread only does network I/O meanwhile, and
    50 ms is far below the group's heartbeat and session timeouts.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
