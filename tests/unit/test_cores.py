"""The cores the process may use: its affinity, capped by its cgroup v2 CPU quota (read from a fake tree)."""

from pathlib import Path

import pytest

from gourmetgram import cores


def tree(tmp_path: Path, membership: str, quotas: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for group, cpu_max in quotas.items():
        folder = root / group
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cpu.max").write_text(cpu_max + "\n")
    root.mkdir(exist_ok=True)
    member = tmp_path / "self-cgroup"
    member.write_text(membership)
    return root, member


@pytest.mark.parametrize(
    ("cpu_max", "expected"), [("200000 100000", 2), ("150000 100000", 2), ("50000 100000", 1), ("max 100000", None)]
)
def test_the_quota_of_its_own_group_in_whole_cores(tmp_path, cpu_max, expected):
    root, member = tree(tmp_path, "0::/system.slice/fn.scope\n", {"system.slice/fn.scope": cpu_max})
    assert cores.cgroup_quota(root, member) == expected


@pytest.mark.parametrize(
    ("outer", "inner", "expected"),
    [("100000 100000", "400000 100000", 1), ("400000 100000", "200000 100000", 2), ("max 100000", "300000 100000", 3)],
)
def test_the_smallest_quota_of_its_group_and_those_above_bounds_it(tmp_path, outer, inner, expected):
    root, member = tree(tmp_path, "0::/outer/inner\n", {"outer": outer, "outer/inner": inner})
    assert cores.cgroup_quota(root, member) == expected


def test_nothing_above_the_cgroup_root_counts(tmp_path):
    root, member = tree(tmp_path, "0::/a\n", {"a": "max 100000"})
    (tmp_path / "cpu.max").write_text("100000 100000\n")  # beside the tree, not in it
    assert cores.cgroup_quota(root, member) is None


def test_a_group_outside_this_namespace_is_not_looked_for(tmp_path):
    root, member = tree(tmp_path, "0::/../../x\n", {"": "100000 100000"})
    (tmp_path.parent / "x").mkdir(exist_ok=True)
    assert cores.cgroup_quota(root, member) is None


def test_inside_a_container_its_group_is_the_namespace_root(tmp_path):
    root, member = tree(tmp_path, "0::/\n", {"": "300000 100000"})  # docker --cpus=3 with a cgroup namespace
    assert cores.cgroup_quota(root, member) == 3


@pytest.mark.parametrize("membership", ["4:cpu,cpuacct:/docker/abc\n", ""], ids=["cgroup-v1-only", "empty"])
def test_no_cgroup_v2_means_no_quota(tmp_path, membership):
    root, member = tree(tmp_path, membership, {"docker/abc": "100000 100000"})
    assert cores.cgroup_quota(root, member) is None


def test_an_unreadable_membership_or_a_garbled_quota_is_no_quota(tmp_path):
    assert cores.cgroup_quota(tmp_path, tmp_path / "missing") is None
    root, member = tree(tmp_path, "0::/a/b/c\n", {"a": "lots 100000", "a/b": "100000 0", "a/b/c": "0 100000"})
    assert cores.cgroup_quota(root, member) is None
    (root / "a" / "cpu.max").write_text("9" * 400 + " 1\n")  # absurd, yet a whole number of cores
    assert cores.cgroup_quota(root, member) == int("9" * 400)
    member.write_bytes(b"0::/caf\xe9\n")  # a group name that is not UTF-8
    assert cores.cgroup_quota(root, member) is None


def test_usable_cores_is_the_affinity_capped_by_the_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(cores.os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr(cores.os, "cpu_count", lambda: 64)  # the host's count is not what the process may use
    root, member = tree(tmp_path, "0::/\n", {"": "200000 100000"})
    assert cores.usable_cores(root, member) == 2
    (root / "cpu.max").write_text("max 100000\n")
    assert cores.usable_cores(root, member) == 8
    monkeypatch.setattr(cores.os, "sched_getaffinity", lambda pid: {0, 1})
    (root / "cpu.max").write_text("400000 100000\n")  # a quota above the cpuset leaves the cpuset's count
    assert cores.usable_cores(root, member) == 2


def test_without_an_affinity_it_counts_the_host_and_never_less_than_one(tmp_path, monkeypatch):
    def no_affinity(pid):
        raise AttributeError("sched_getaffinity")

    monkeypatch.setattr(cores.os, "sched_getaffinity", no_affinity)
    monkeypatch.setattr(cores.os, "cpu_count", lambda: 4)
    assert cores.usable_cores(tmp_path, tmp_path / "missing") == 4
    monkeypatch.setattr(cores.os, "cpu_count", lambda: None)
    assert cores.usable_cores(tmp_path, tmp_path / "missing") == 1


def test_reading_this_machine_s_own_cgroup_files_does_not_fail():  # whatever they hold here
    assert 1 <= cores.usable_cores() <= (cores.os.cpu_count() or 1)
