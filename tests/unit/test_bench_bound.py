from gourmetgram_tools.bench import cpu_bound


def test_the_bound_is_every_core_busy_with_what_each_photo_costs_every_process():
    cpu = {"minio": 12.0, "function": 28.0, "web": 0.0, "bench": 2.5}  # 42.5 ms per photo in all
    assert cpu_bound(cpu, cores=2) == 2000 / 42.5
    assert cpu_bound(cpu, cores=4) == 2 * cpu_bound(cpu, cores=2)
