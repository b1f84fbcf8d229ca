"""The benchmark runs end to end on CPU at tiny shapes, so it cannot rot unseen."""

import json

import pytest

from kernels import bench


def test_bench_small_reports_every_kernel_at_every_batch_with_positive_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench.main(["--small", "--json", "--budget", "0.001"])
    result = json.loads(capsys.readouterr().out)
    assert result["copy_gbps"] > 0
    seen = {(r["kernel"], r["batch"]) for r in result["rows"]}
    kernels = {"w4a16_gemm", "fused_moe_w4a16", "mla_decode", "route_noaux_tc"}
    assert seen == {(k, b) for k in kernels for b in bench.SMALL.batches}
    for row in result["rows"]:
        assert row["ms"] > 0 and row["baseline_ms"] > 0 and row["speedup"] > 0


def test_bench_refuses_r1_shapes_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(SystemExit, match="need a GPU"):
        bench.main([])
