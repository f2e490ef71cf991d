#!/usr/bin/env python3
"""PyTorch with cuDNN beside `ctv bench gpu`: the same network and conv layers (SPEC section 6).

Runs `ctv bench gpu --json` (or reads a report it wrote, --ours), then times each record in
PyTorch on the GPU as its users run it: the U-Net's inference (eval, inference_mode) and
training step (AM-GM loss, backward, Adam, zero_grad) with bench/torch_cpu.py's network and
inputs moved to the GPU, with its peak allocated memory, and each conv op: channels_last_3d tensors and weights,
float32 with TF32 off (torch.backends.cudnn.allow_tf32 = False and
torch.backends.cuda.matmul.allow_tf32 = False: the same precision as ours), or with
--precision tf32 both on and ours on its TF32 tensor-core kernels, or with --precision bf16
the conv ops on bfloat16 tensors and the network under torch.autocast(bfloat16) (ours: BF16
tensor-core kernels reading float32 tensors),
torch.backends.cudnn.benchmark = True (cuDNN picks its fastest algorithm, after the warm-up),
F.conv3d / F.conv_transpose3d for fprop and aten.convolution_backward with one output
requested for dgrad and wgrad; device time from CUDA events, median of --repeat runs.

Prints PyTorch's, CUDA's and cuDNN's versions and the settings, then one Markdown table:
case | shape | ours ms | PyTorch / cuDNN ms | ours / theirs. A benchmark, never a test; PyTorch is needed
only here (on the GPU machine, its own Python; bench/gpu_check.sh runs this).

usage: bench/torch_gpu.py [--ctv build/ctv] [--ours REPORT.json] [--repeat 5] [--warmup 2]
                          [--grid X,Y,Z] [--precision fp32|tf32|bf16] [--json OUT.json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_cpu  # noqa: E402  the same U-Net, inputs, loss and conv calls as the CPU comparison

def parse_args():
    a = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a.add_argument("--ctv", default=None, help="ctv binary (default: build/ctv)")
    a.add_argument("--ours", default=None, help="read this `ctv bench gpu --json` report")
    a.add_argument("--repeat", type=int, default=5)
    a.add_argument("--warmup", type=int, default=2)
    a.add_argument("--grid", default="416,288,128")
    a.add_argument("--precision", choices=["fp32", "tf32", "bf16"], default=None,
                   help="convolution arithmetic of both sides (default fp32, or --ours's)")
    a.add_argument("--json", default=None, help="write cuDNN's figures and the ratios here")
    return a.parse_args()


def run_ours(args):
    if args.ours:
        with open(args.ours) as f:
            return json.load(f)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ctv = args.ctv or os.path.join(root, "build", "ctv")
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "ours.json")
        subprocess.run([ctv, "bench", "gpu", "--json", out, "--repeat", str(args.repeat),
                        "--warmup", str(args.warmup), "--grid", args.grid,
                        "--precision", args.precision or "fp32"], check=True)
        with open(out) as f:
            return json.load(f)


def device_ms(torch, fn, warmup, repeat):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times), times


def main():
    args = parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("torch_gpu.py: PyTorch is not installed here")
    if not torch.cuda.is_available():
        sys.exit("torch_gpu.py: PyTorch sees no GPU")
    ours = run_ours(args)
    precision = ours["settings"].get("precision", "fp32")
    if args.precision and args.precision != precision:
        sys.exit(f"torch_gpu.py: --precision {args.precision}, but {args.ours} was measured in "
                 f"{precision}")
    tf32 = precision == "tf32"
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    bf16 = precision == "bf16"
    arith = ("bfloat16 (conv tensors; the network under autocast)" if bf16 else
             f"float32, TF32 {'on' if tf32 else 'off'}")
    print(f"PyTorch {torch.__version__} | CUDA {torch.version.cuda} | cuDNN "
          f"{torch.backends.cudnn.version()} | {torch.cuda.get_device_name(0)} | channels_last_3d "
          f"| {arith} | cudnn.benchmark on")
    rows = []
    cl = torch.channels_last_3d
    settings = ours["settings"]
    net = settings.get("network", {"filters": [16, 32, 64, 128, 256], "in_channels": 2})
    grid = settings["grid_xyz"]
    for r in ours["records"]:
        torch.manual_seed(0)
        peak = None
        if r.get("kind") == "unet":
            model = torch_cpu.build_unet(torch, net["filters"], net["in_channels"]).cuda()
            model = model.to(memory_format=cl)
            x = torch_cpu.network_input(torch, grid, net["in_channels"], cl).cuda()
            torch.cuda.reset_peak_memory_stats()
            if r["op"] == "infer":
                fn = torch_cpu.infer_fn(torch, model, x)
            else:
                g = torch_cpu.target(torch, grid, cl).cuda()
                fn = torch_cpu.step_fn(torch, model, x, g, settings.get("amgm_eps", 1e-5))
            if bf16:
                plain = fn

                def fn(plain=plain):
                    with torch.autocast("cuda", dtype=torch.bfloat16):
                        return plain()
            ms, times = device_ms(torch, fn, args.warmup, args.repeat)
            peak = torch.cuda.max_memory_allocated() / 2**20
            del model, x, fn
        else:
            fn = torch_cpu.conv_fn(torch, r["shape"], r["op"], device="cuda",
                                   dtype=torch.bfloat16 if bf16 else None)
            ms, times = device_ms(torch, fn, args.warmup, args.repeat)
            del fn
        torch.cuda.empty_cache()
        rows.append({"case": r["case"], "shape": r["shape"], "ours_ms": r["median_ms"],
                     "cudnn_ms": ms, "cudnn_times_ms": times, "ratio": r["median_ms"] / ms,
                     "torch_peak_mib": peak, "ours_tensor_peak_mib": r.get("tensor_peak_mib")})
        print(f"  {r['case']:<22} ours {r['median_ms']:9.3f} ms  cuDNN {ms:9.3f} ms", flush=True)
    print()
    print(f"{ours['device']['name']} | ours: ctvnet {ours['ctvnet']['version']} "
          f"({ours['ctvnet']['commit']}) | grid {ours['settings']['grid_xyz']}")
    print("| case | shape (NDHWC) | ours ms | PyTorch (cuDNN) ms | ours / PyTorch |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['case']} | {r['shape']} | {r['ours_ms']:.3f} | {r['cudnn_ms']:.3f} | "
              f"{r['ratio']:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"schema": "ctvnet-bench-gpu-peer", "version": 1,
                       "peer": {"torch": torch.__version__, "cuda": torch.version.cuda,
                                "cudnn": torch.backends.cudnn.version(),
                                "device": torch.cuda.get_device_name(0),
                                "memory_format": "channels_last_3d", "tf32": tf32, "bf16": bf16,
                                "cudnn_benchmark": True, "repeat": args.repeat,
                                "warmup": args.warmup},
                       "ours": ours, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
