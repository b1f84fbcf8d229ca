"""Benchmark of the kernels at DeepSeek-R1's shapes: `python -m kernels.bench --json`.

For each kernel and batch size: median time, achieved bandwidth (and as a fraction of a
device-to-device copy measured in the same run), TFLOP/s, and the speedup over the bf16
baseline (pre-dequantised cuBLAS matmul for the GEMM, dequantise-then-matmul per expert for
the MoE, dense attention over a contiguous cache for MLA, the PyTorch op chain for routing).

On a GPU the kernels run through the public functions, hence Triton. `--small` runs tiny
shapes and works on CPU too (the reference path), so a broken benchmark shows without a GPU.
"""

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

import kernels
from kernels import reference

BATCHES = (1, 4, 16, 64, 256)


@dataclass(frozen=True)
class Shapes:
    hidden: int = 7168
    moe_inter: int = 2048
    experts: int = 256
    top_k: int = 8
    n_group: int = 8
    topk_group: int = 4
    q_lora_rank: int = 1536
    kv_lora_rank: int = 512
    rope: int = 64
    heads: int = 128
    nope: int = 128
    v_head: int = 128
    context: int = 4096  # cached positions per sequence for MLA decode
    page: int = 64
    group_size: int = 128
    batches: tuple[int, ...] = BATCHES
    copy_mib: int = 1024


SMALL = Shapes(
    hidden=256,
    moe_inter=128,
    experts=16,
    top_k=4,
    n_group=4,
    topk_group=2,
    q_lora_rank=128,
    kv_lora_rank=64,
    rope=16,
    heads=4,
    nope=16,
    v_head=16,
    context=64,
    page=16,
    group_size=64,
    batches=(1, 4),
    copy_mib=8,
)


@dataclass
class Row:
    kernel: str
    shape: str
    batch: int
    ms: float
    gbps: float
    copy_fraction: float
    tflops: float
    baseline_ms: float
    speedup: float


class Timer:
    """Median wall time of fn: CUDA events on a GPU (after flushing L2), perf_counter on CPU."""

    def __init__(self, device: torch.device, budget_s: float) -> None:
        self.device = device
        self.budget_s = budget_s
        self.cuda = device.type == "cuda"
        # Writing 256 MiB between runs evicts the weights from L2, as a real decode step would.
        self.flush = (
            torch.empty(64 * 2**20, dtype=torch.int32, device=device) if self.cuda else None
        )

    def __call__(self, fn: Callable[[], object]) -> float:
        fn()  # compile / warm up
        first = self._once(fn)
        reps = max(3, min(100, int(self.budget_s / max(first, 1e-6))))
        return statistics.median(self._once(fn) for _ in range(reps)) * 1e3

    def _once(self, fn: Callable[[], object]) -> float:
        if not self.cuda:
            start = time.perf_counter()
            fn()
            return time.perf_counter() - start
        self.flush.zero_()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1e3


def copy_gbps(timer: Timer, mib: int) -> float:
    src = torch.empty(mib * 2**20, dtype=torch.uint8, device=timer.device)
    dst = torch.empty_like(src)
    ms = timer(lambda: dst.copy_(src))
    return 2 * src.numel() / ms / 1e6  # read + write


def _row(kernel, shape, batch, ms, nbytes, flops, baseline_ms, copy) -> Row:
    gbps = nbytes / ms / 1e6
    return Row(
        kernel, shape, batch, ms, gbps, gbps / copy, flops / ms / 1e9, baseline_ms, baseline_ms / ms
    )


def _w4(n: int, k: int, s: Shapes, dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Random packed int4 weights [N, K/8] and scales: quantising 22 GB of bf16 experts
    through quantize_rtn's int64 intermediates would not fit next to them on one GPU."""
    info = torch.iinfo(torch.int32)
    qweight = torch.randint(info.min, info.max, (n, k // 8), dtype=torch.int32, device=device)
    scales = torch.rand(n, k // s.group_size, device=device).to(dtype) * 0.01
    return qweight, scales


def bench_gemm(s: Shapes, timer: Timer, dtype, copy: float) -> list[Row]:
    # (name, N, K): R1's projections that stay dense under W4A16.
    layers = [
        ("kv_a_proj", s.kv_lora_rank + s.rope, s.hidden),
        ("q_b_proj", s.heads * (s.nope + s.rope), s.q_lora_rank),
        ("o_proj", s.hidden, s.heads * s.v_head),
        ("shared_gate_up", 2 * s.moe_inter, s.hidden),
        ("shared_down", s.hidden, s.moe_inter),
    ]
    rows = []
    for name, n, k in layers:
        qweight, scales = _w4(n, k, s, dtype, timer.device)
        dense = kernels.dequantize_w4(qweight, scales, s.group_size)  # bf16 cuBLAS baseline
        for m in s.batches:
            x = torch.randn(m, k, dtype=dtype, device=timer.device)
            ms = timer(lambda: kernels.w4a16_gemm(x, qweight, scales, s.group_size))  # noqa: B023
            base = timer(lambda: x @ dense.T)  # noqa: B023
            nbytes = n * k // 2 + scales.numel() * 2 + (m * k + m * n) * x.element_size()
            rows.append(
                _row("w4a16_gemm", f"{name} {n}x{k}", m, ms, nbytes, 2 * m * n * k, base, copy)
            )
    return rows


def _moe_baseline(x, ids, weights, w13_q, w13_s, w2_q, w2_s, group_size):
    """Dequantise each used expert to bf16, then torch.matmul: what int4 without a kernel costs."""
    inter = w13_q.shape[1] // 2
    out = torch.zeros_like(x)
    for e in ids.unique().tolist():
        token, slot = (ids == e).nonzero(as_tuple=True)
        gate_up = x[token] @ reference.dequantize_w4(w13_q[e], w13_s[e], group_size).T
        act = torch.nn.functional.silu(gate_up[:, :inter]) * gate_up[:, inter:]
        down = act @ reference.dequantize_w4(w2_q[e], w2_s[e], group_size).T
        out.index_add_(0, token, down * weights[token, slot, None].to(x.dtype))
    return out


def bench_moe(s: Shapes, timer: Timer, dtype, copy: float) -> list[Row]:
    h, inter, e = s.hidden, s.moe_inter, s.experts
    w13_q, w13_s = _w4(e * 2 * inter, h, s, dtype, timer.device)
    w2_q, w2_s = _w4(e * h, inter, s, dtype, timer.device)
    w13_q, w13_s = w13_q.view(e, 2 * inter, -1), w13_s.view(e, 2 * inter, -1)
    w2_q, w2_s = w2_q.view(e, h, -1), w2_s.view(e, h, -1)
    bytes_per_expert = 3 * inter * h // 2 + (w13_s[0].numel() + w2_s[0].numel()) * 2
    rows = []
    for t in s.batches:
        x = torch.randn(t, h, dtype=dtype, device=timer.device)
        logits = torch.randn(t, e, device=timer.device)
        weights, ids = kernels.route_noaux_tc(
            logits, torch.zeros(e, device=timer.device), s.n_group, s.topk_group, s.top_k, 2.5
        )
        args = (x, ids, weights, w13_q, w13_s, w2_q, w2_s, s.group_size)
        ms = timer(lambda: kernels.fused_moe_w4a16(*args))  # noqa: B023
        base = timer(lambda: _moe_baseline(*args))  # noqa: B023
        used = ids.unique().numel()
        nbytes = used * bytes_per_expert + 2 * t * h * x.element_size()
        flops = t * s.top_k * 2 * 3 * inter * h
        shape = f"{e} experts top-{s.top_k}, {h}x{inter}"
        rows.append(_row("fused_moe_w4a16", shape, t, ms, nbytes, flops, base, copy))
    return rows


def bench_mla(s: Shapes, timer: Timer, dtype, copy: float) -> list[Row]:
    r, p, h, length = s.kv_lora_rank, s.rope, s.heads, s.context
    rows = []
    for b in s.batches:
        pages_per_seq = length // s.page
        num_pages = b * pages_per_seq
        latent_cache = torch.randn(num_pages, s.page, r, dtype=dtype, device=timer.device)
        pe_cache = torch.randn(num_pages, s.page, p, dtype=dtype, device=timer.device)
        order = torch.randperm(num_pages, device=timer.device)  # pages scattered, as in serving
        block_table = order.view(b, pages_per_seq).int()
        seq_lens = torch.full((b,), length, dtype=torch.int32, device=timer.device)
        q_latent = torch.randn(b, h, r, dtype=dtype, device=timer.device)
        q_pe = torch.randn(b, h, p, dtype=dtype, device=timer.device)
        scale = (s.nope + s.rope) ** -0.5
        args = (q_latent, q_pe, latent_cache, pe_cache, block_table, seq_lens, scale)
        ms = timer(lambda: kernels.mla_decode(*args))  # noqa: B023
        # Dense baseline: the same cache already contiguous per sequence [B, L, R].
        latent = latent_cache[block_table.long()].view(b, length, r)
        pe = pe_cache[block_table.long()].view(b, length, p)

        def dense(q_latent=q_latent, q_pe=q_pe, latent=latent, pe=pe, scale=scale):
            scores = (q_latent @ latent.transpose(1, 2) + q_pe @ pe.transpose(1, 2)) * scale
            return scores.float().softmax(-1).to(latent.dtype) @ latent

        base = timer(dense)
        nbytes = b * length * (r + p) * q_latent.element_size()
        flops = b * h * length * 2 * (2 * r + p)
        rows.append(
            _row("mla_decode", f"{h} heads, {length} ctx", b, ms, nbytes, flops, base, copy)
        )
    return rows


def bench_routing(s: Shapes, timer: Timer, copy: float) -> list[Row]:
    rows = []
    bias = torch.randn(s.experts, device=timer.device) * 0.01
    for t in s.batches:
        logits = torch.randn(t, s.experts, device=timer.device)
        args = (logits, bias, s.n_group, s.topk_group, s.top_k, 2.5)
        ms = timer(lambda: kernels.route_noaux_tc(*args))  # noqa: B023
        base = timer(lambda: reference.route_noaux_tc(*args))  # noqa: B023
        nbytes = t * s.experts * 4
        rows.append(_row("route_noaux_tc", f"{s.experts} experts", t, ms, nbytes, 0, base, copy))
    return rows


def run(small: bool, budget_s: float) -> dict:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type != "cuda" and not small:
        raise SystemExit("R1's shapes need a GPU; run with --small to check the benchmark on CPU")
    s = SMALL if small else Shapes()
    # bf16 on the GPU, as served; fp32 on CPU, where bf16 matmuls are slow and unrepresentative.
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    torch.manual_seed(0)
    timer = Timer(device, budget_s)
    copy = copy_gbps(timer, s.copy_mib)
    rows = bench_gemm(s, timer, dtype, copy)
    rows += bench_moe(s, timer, dtype, copy)
    rows += bench_mla(s, timer, dtype, copy)
    rows += bench_routing(s, timer, copy)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {
        "device": name,
        "dtype": str(dtype).removeprefix("torch."),
        "shapes": asdict(s),
        "copy_gbps": copy,
        "rows": [asdict(r) for r in rows],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--small", action="store_true", help="tiny shapes, runs on CPU")
    parser.add_argument("--budget", type=float, default=0.5, help="seconds of timing per case")
    args = parser.parse_args(argv)
    result = run(args.small, args.budget)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{result['device']} ({result['dtype']}), copy {result['copy_gbps']:.0f} GB/s")
    print(
        f"{'kernel':16} {'shape':34} {'batch':>5} {'ms':>9} {'GB/s':>8} {'of copy':>7} "
        f"{'TFLOP/s':>8} {'base ms':>9} {'speedup':>7}"
    )
    for r in result["rows"]:
        print(
            f"{r['kernel']:16} {r['shape']:34} {r['batch']:5d} {r['ms']:9.4f} {r['gbps']:8.1f} "
            f"{r['copy_fraction']:7.2f} {r['tflops']:8.2f} {r['baseline_ms']:9.4f} "
            f"{r['speedup']:7.2f}"
        )


if __name__ == "__main__":
    main()
