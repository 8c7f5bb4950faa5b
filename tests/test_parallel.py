"""Runs side by side on the cores: ferkit/parallel.py and the ONNX backend's batches."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from ferkit.backends.onnx import RUN_FACES, OnnxBackend
from ferkit.parallel import side_by_side
from ferkit.recognizer import bundled_model


def watched(backend: OnnxBackend) -> list[tuple[str, int]]:
    """(thread name, faces) of each run of the backend's model, from now on."""
    runs = []
    run = backend.session.run

    def recorded(names, feed):
        runs.append((threading.current_thread().name, len(next(iter(feed.values())))))
        return run(names, feed)

    backend.session.run = recorded
    return runs


def test_a_batch_is_classified_in_runs_of_a_few_faces_side_by_side_with_the_same_probabilities():
    x = np.random.default_rng(0).random((37, 1, 96, 96), dtype=np.float32)
    two = OnnxBackend(bundled_model(), threads=2)
    whole = two.session.run(None, {two.input_name: x})[0]  # one run over the whole batch
    runs = watched(two)
    assert np.array_equal(two.run(x), whole)  # in order, to the bit
    assert sum(n for _, n in runs) == 37 and max(n for _, n in runs) <= RUN_FACES
    in_pool = [n for name, n in runs if name.startswith("ferkit-classify")]
    assert 0 < sum(in_pool) < 37 and abs(2 * sum(in_pool) - 37) <= RUN_FACES  # about half

    one = OnnxBackend(bundled_model(), threads=1)
    runs = watched(one)
    assert np.array_equal(one.run(x), whole)
    assert {name for name, _ in runs} == {threading.current_thread().name}


def test_one_face_is_one_run_in_the_callers_thread():
    backend = OnnxBackend(bundled_model(), threads=2)
    runs = watched(backend)
    probs = backend.run(np.zeros((1, 1, 96, 96), np.float32))
    assert probs.shape == (1, 7) and runs == [(threading.current_thread().name, 1)]


def test_side_by_side_keeps_the_order_and_runs_the_first_job_in_the_callers_thread():
    def job(i):
        return lambda: (i, threading.current_thread().name)

    with ThreadPoolExecutor(2, thread_name_prefix="pool") as pool:
        results = side_by_side(pool, [job(i) for i in range(4)])
        assert [i for i, _ in results] == [0, 1, 2, 3]
        assert results[0][1] == threading.current_thread().name
        assert all(name.startswith("pool") for _, name in results[1:])

        def fails():
            raise ValueError("bad input")

        with pytest.raises(ValueError, match="bad input"):
            side_by_side(pool, [job(0), fails])
    assert {name for _, name in side_by_side(None, [job(i) for i in range(3)])} == {
        threading.current_thread().name}
