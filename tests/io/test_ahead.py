"""Reading the next input in the background while the current one is classified."""

import threading

import pytest

from ferkit.io.ahead import read_ahead


def test_items_come_in_order_with_the_next_one_read_meanwhile_in_one_other_thread():
    started, names, reading = [], set(), [threading.Event() for _ in range(5)]

    def read(i: int) -> int:
        started.append(i)
        names.add(threading.current_thread().name)
        reading[i].set()
        return i * i

    seen = []
    for i, square in read_ahead(read, range(5)):
        assert i == 4 or reading[i + 1].wait(5)  # the next one is read meanwhile
        seen.append((i, square, list(started)))
    assert [(i, sq) for i, sq, _ in seen] == [(i, i * i) for i in range(5)]
    # while item i was worked on, item i + 1 was already being read, and nothing further
    assert [s for *_, s in seen] == [list(range(min(i + 2, 5))) for i in range(5)]
    assert len(names) == 1 and threading.current_thread().name not in names


def test_listed_errors_come_as_results_and_others_stop_the_items():
    def read(i: int) -> int:
        if i == 1:
            raise ValueError("one")
        if i == 3:
            raise KeyError("three")
        return i

    got = []
    with pytest.raises(KeyError, match="three"):
        for i, result in read_ahead(read, range(5), errors=ValueError):
            got.append((i, str(result)))
    assert got == [(0, "0"), (1, "one"), (2, "2")]


def test_disabled_it_reads_in_the_callers_thread_as_it_goes():
    where, started = set(), []

    def read(i: int) -> int:
        where.add(threading.current_thread().name)
        started.append(i)
        return i

    for i, _ in read_ahead(read, range(3), enabled=False):
        assert started == list(range(i + 1))  # nothing read ahead
    assert where == {threading.current_thread().name}
