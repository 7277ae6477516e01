"""The bench's ceiling runs under the function's allocator settings, told to glibc by mallopt."""

from gourmetgram_tools import bench
from gourmetgram_tools.spawn import FUNCTION_MALLOC_ENV


class Libc:
    def __init__(self, answer: int = 1):
        self.calls, self.answer = [], answer

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append((parameter, value))
        return self.answer


def test_each_of_the_function_s_allocator_settings_is_given_to_mallopt(monkeypatch):
    libc = Libc()
    monkeypatch.setattr(bench.ctypes, "CDLL", lambda name: libc)
    assert bench.use_function_allocator()
    # M_TRIM_THRESHOLD -1, M_MMAP_THRESHOLD -3, M_ARENA_MAX -8 (glibc's malloc.h)
    codes = {"MALLOC_TRIM_THRESHOLD_": -1, "MALLOC_MMAP_THRESHOLD_": -3, "MALLOC_ARENA_MAX": -8}
    assert sorted(libc.calls) == sorted((codes[name], int(value)) for name, value in FUNCTION_MALLOC_ENV.items())


def test_without_glibc_or_when_it_refuses_the_ceiling_says_so(monkeypatch):
    refusing = Libc(answer=0)
    monkeypatch.setattr(bench.ctypes, "CDLL", lambda name: refusing)
    assert not bench.use_function_allocator()
    assert len(refusing.calls) == len(FUNCTION_MALLOC_ENV)  # every setting was tried

    def missing(name):
        raise OSError("no libc.so.6")

    monkeypatch.setattr(bench.ctypes, "CDLL", missing)
    assert not bench.use_function_allocator()
