"""Runs side by side on the cores: ferkit/parallel.py and the ONNX backend's batches."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from ferkit import parallel
from ferkit.detection import passes as faces
from ferkit.parallel import cgroup_cpu_quota, side_by_side
from ferkit.recognition.backends.onnx import RUN_FACES, OnnxBackend
from ferkit.recognition.recognizer import bundled_model


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
    two = OnnxBackend(bundled_model(), threads=2)
    size = two.config["img_size"]  # the bundled model's input side
    x = np.random.default_rng(0).random((37, 1, size, size), dtype=np.float32)
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
    size = backend.config["img_size"]
    probs = backend.run(np.zeros((1, 1, size, size), np.float32))
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


def cgroups(tmp_path, membership: str, files: dict[str, str]):
    """A /sys/fs/cgroup tree and a /proc/self/cgroup under tmp_path."""
    for name, text in files.items():
        (tmp_path / "sys" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "sys" / name).write_text(text)
    (tmp_path / "cgroup").write_text(membership)
    return tmp_path / "sys", tmp_path / "cgroup"


@pytest.mark.parametrize("membership, files, cpus", [
    # cgroup v2, a container's own namespace: docker run --cpus 1.5
    ("0::/\n", {"cpu.max": "150000 100000\n"}, 1.5),
    ("0::/\n", {"cpu.max": "max 100000\n"}, None),
    # v2 on a host: the tightest of the process's cgroup and the ones above it
    ("0::/kubepods/pod1/c1\n", {"kubepods/cpu.max": "400000 100000",
                                "kubepods/pod1/cpu.max": "50000 100000",
                                "kubepods/pod1/c1/cpu.max": "max 100000"}, 0.5),
    # v1, with the path named from the host's root but the container's cgroup mounted
    ("12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n",
     {"cpu,cpuacct/cpu.cfs_quota_us": "200000", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, 2.0),
    ("1:cpu:/\n", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
    ("0::/\n", {"cpu.max": "garbage"}, None),
    ("0::/\n", {}, None),
])
def test_a_containers_cpu_quota_is_read_from_cgroups(tmp_path, membership, files, cpus):
    assert cgroup_cpu_quota(*cgroups(tmp_path, membership, files)) == cpus


def test_the_cores_used_are_no_more_than_the_cpu_quota_allows(monkeypatch):
    monkeypatch.setattr(parallel, "cgroup_cpu_quota", lambda: 1.5)
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert parallel.available_cores() == 2  # 1.5 CPUs' time: two threads keep it busy
    assert OnnxBackend(bundled_model()).threads == 2
    # the detectors' ONNX Runtime sessions too, whose own default counts the host's cores
    monkeypatch.setattr(faces, "cgroup_cpu_quota", lambda: 1.5)
    assert faces.session_options(None).intra_op_num_threads == 2
    assert faces.session_options(1).intra_op_num_threads == 1

    monkeypatch.setattr(parallel, "cgroup_cpu_quota", lambda: None)
    monkeypatch.setattr(faces, "cgroup_cpu_quota", lambda: None)
    assert parallel.available_cores() == 64
    assert faces.session_options(None).intra_op_num_threads == 0  # ONNX Runtime decides
