"""Where the time of one ``read_events`` goes: a fresh process, one call under cProfile.

    python benchmarks/profile_events_read.py /tmp/r18/bench/events_20000000_2000000.parquet

The file is the events table ``bench_prepare.py --events N`` generates (customer_id,
timestamp, event_type, value). Prints the import time, the call's wall time and its top
functions by own time (DuckDB's query execution shows up as ``submit``).
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time


def main() -> None:
    t0 = time.perf_counter()
    from ltvkit.data.events import EventMapping, read_events

    print(f"import {time.perf_counter() - t0:.2f} s")
    mapping = EventMapping(customer="customer_id", time="timestamp", event_type="event_type",
                           value="value")
    profile = cProfile.Profile()
    t0 = time.perf_counter()
    profile.enable()
    events = read_events(sys.argv[1], mapping)
    profile.disable()
    print(f"read_events: {time.perf_counter() - t0:.2f} s; dropped {events.quality.dropped}")
    pstats.Stats(profile).sort_stats("tottime").print_stats(int(sys.argv[2]) if len(sys.argv) > 2
                                                           else 14)


if __name__ == "__main__":
    main()
