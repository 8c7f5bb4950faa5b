"""Work done one item ahead in a background thread, so that reading the next input (a photo
to decode, a video frame) overlaps with what is done with this one."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def read_ahead(fn: Callable[[T], R], items: Iterable[T], enabled: bool = True,
               errors: type[Exception] | tuple[type[Exception], ...] = ()
               ) -> Iterator[tuple[T, R]]:
    """(item, fn(item)) for each item in order, fn(next item) running in one background
    thread while the caller works on this one (fn calls stay in order, one at a time, so fn
    may read a stream). enabled=False: all in the caller's thread. An exception of a type in
    `errors` comes as the result, so that the items after it still come; any other is raised
    where its item would have come."""

    def call(item: T) -> R:
        try:
            return fn(item)
        except errors as e:
            return e

    if not enabled:
        for item in items:
            yield item, call(item)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="ferkit-read") as pool:
        ahead = None
        for item in items:
            future = pool.submit(call, item)
            if ahead is not None:
                yield ahead[0], ahead[1].result()
            ahead = item, future
        if ahead is not None:
            yield ahead[0], ahead[1].result()
