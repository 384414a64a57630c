from ispsim.cli.bench import main, perf_benchmarks


def test_perf_benchmark_runs_and_prints_ratios(capsys):
    assert "isp_render" in perf_benchmarks()
    assert main(["perf", "isp_render", "--size", "64x96", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    for name in ("ispsim numba (fused)", "rawpy postprocess (LINEAR)", "numpy/scipy chain", "memcpy"):
        assert name in out
    assert "numba/rawpy =" in out


def test_unknown_benchmark(capsys):
    assert main(["perf", "nope"]) == 2
    assert "valid: dataset_build, isp_render" in capsys.readouterr().err
