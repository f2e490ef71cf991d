#!/usr/bin/env python3
"""PyTorch's CPU path beside `ctv bench cpu`, in the same run (SPEC section 6).

Runs `ctv bench cpu --json` (or reads a report it wrote, --ours), then times the same cases in
PyTorch configured as its users would: channels_last_3d tensors and weights, oneDNN (mkldnn)
when available, torch.set_num_threads(N), torch.inference_mode() and eval-mode batch norm for
inference. The network is the same U-Net (SPEC section 3): per level two (Conv3d 3x3x3 pad 1
-> BatchNorm3d -> ReLU), MaxPool3d 2, ConvTranspose3d 2x2x2 stride 2, concat [skip, up],
Conv3d 1x1x1 + sigmoid; AM-GM loss L = 1 - (2 sum p g + eps) / (sum (p^2 + g^2) + eps) with
eps 1e-5 (engine/ops_loss.cpp); Adam lr 1e-4, betas 0.9/0.999, eps 1e-7. The conv cases are
the shapes listed in our report, timed with F.conv3d / F.conv_transpose3d (fprop) and
aten.convolution_backward with one output requested (dgrad, wgrad).

Prints PyTorch's version, oneDNN availability, threads and settings, then one table:
case | ours ms | PyTorch ms | ours / PyTorch. A benchmark, never a test; PyTorch is needed
only here (bench/README.md: a venv in bench/.venv).

usage: bench/torch_cpu.py [--ctv build/ctv] [--threads 2] [--repeat 3] [--warmup 1]
                          [--cases infer,step,conv] [--grid X,Y,Z] [--step-grid X,Y,Z]
                          [--layer-grid X,Y,Z] [--ours REPORT.json] [--json OUT.json]
"""
import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def parse_args():
    a = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a.add_argument("--ctv", default=None, help="ctv binary (default: build-bench/ctv or build/ctv)")
    a.add_argument("--threads", type=int, default=os.cpu_count())
    a.add_argument("--repeat", type=int, default=3)
    a.add_argument("--warmup", type=int, default=1)
    a.add_argument("--cases", default="infer,step,conv")
    a.add_argument("--grid", default="416,288,128", help="inference grid X,Y,Z")
    a.add_argument("--step-grid", default="96,96,64")
    a.add_argument("--layer-grid", default=None, help="default: --grid")
    a.add_argument("--ours", default=None, help="read this `ctv bench cpu --json` report instead of running ctv")
    a.add_argument("--json", default=None, help="write PyTorch's figures and the ratios here")
    return a.parse_args()


def find_ctv(explicit):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for c in [explicit] if explicit else [os.path.join(root, "build-bench", "ctv"), os.path.join(root, "build", "ctv")]:
        if c and os.access(c, os.X_OK):
            return c
    sys.exit("torch_cpu.py: no ctv binary found (build it, or give --ctv)")


def run_ours(args):
    if args.ours:
        with open(args.ours) as f:
            return json.load(f)
    ctv = find_ctv(args.ctv)
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    os.unlink(path)
    cmd = [ctv, "bench", "cpu", "--threads", str(args.threads), "--repeat", str(args.repeat),
           "--warmup", str(args.warmup), "--cases", args.cases, "--grid", args.grid,
           "--step-grid", args.step_grid, "--json", path]
    if args.layer_grid:
        cmd += ["--layer-grid", args.layer_grid]
    print("ours:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    with open(path) as f:
        report = json.load(f)
    for p in (path, path + ".json"):
        if os.path.exists(p):
            os.unlink(p)
    return report


def median_ms(fn, warmup, repeat):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), times


def build_unet(torch, filters, in_channels):
    nn = torch.nn

    def block(cin, cout):
        return nn.Sequential(
            nn.Conv3d(cin, cout, 3, padding=1), nn.BatchNorm3d(cout), nn.ReLU(inplace=True),
            nn.Conv3d(cout, cout, 3, padding=1), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            L = len(filters)
            self.enc = nn.ModuleList(
                [block(in_channels if l == 0 else filters[l - 1], filters[l]) for l in range(L)])
            self.up = nn.ModuleList(
                [nn.ConvTranspose3d(filters[l + 1], filters[l], 2, stride=2) for l in range(L - 1)])
            self.dec = nn.ModuleList([block(2 * filters[l], filters[l]) for l in range(L - 1)])
            self.pool = nn.MaxPool3d(2)
            self.head = nn.Conv3d(filters[0], 1, 1)

        def forward(self, x):
            skips = []
            L = len(self.enc)
            for l in range(L):
                if l > 0:
                    x = self.pool(x)
                x = self.enc[l](x)
                if l + 1 < L:
                    skips.append(x)
            for l in reversed(range(L - 1)):
                x = torch.cat([skips.pop(), self.up[l](x)], dim=1)
                x = self.dec[l](x)
            return torch.sigmoid(self.head(x))

    return UNet()


def network_input(torch, grid, channels, cl):
    X, Y, Z = grid
    x = torch.rand(1, channels, Z, Y, X)
    if channels > 1:
        zz, yy, xx = torch.meshgrid(torch.arange(Z), torch.arange(Y), torch.arange(X), indexing="ij")
        r2 = (0.25 * min(X, Y, Z)) ** 2
        x[0, 1] = (((xx - X / 2) ** 2 + (yy - Y / 2) ** 2 + (zz - Z / 2) ** 2) <= r2).float()
    return x.contiguous(memory_format=cl)


def target(torch, grid, cl):
    X, Y, Z = grid
    zz, yy, xx = torch.meshgrid(torch.arange(Z), torch.arange(Y), torch.arange(X), indexing="ij")
    r2 = (0.3 * min(X, Y, Z)) ** 2
    g = (((xx - X / 2) ** 2 + (yy - Y / 2) ** 2 + (zz - Z / 2) ** 2) <= r2).float()
    return g.reshape(1, 1, Z, Y, X).contiguous(memory_format=cl)


def infer_fn(torch, model, x):
    """One inference of `model` (put in eval mode) on x, under inference_mode."""
    model.eval()

    def infer():
        with torch.inference_mode():
            model(x)
    return infer


def step_fn(torch, model, x, g, eps):
    """One training step of `model` (train mode): AM-GM loss against g, backward, Adam
    (lr 1e-4, betas 0.9/0.999, eps 1e-7), zero_grad(set_to_none)."""
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-7)

    def step():
        p = model(x)
        loss = 1 - (2 * (p * g).sum() + eps) / ((p * p + g * g).sum() + eps)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


SHAPE = re.compile(r"(\d+)x(\d+)x(\d+)x(\d+)x(\d+)( transposed)? k(\d+) s(\d+) p(\d+) K(\d+)")


def conv_fn(torch, shape_text, op, device="cpu", dtype=None):
    """The PyTorch call for one of our conv records, on `device`, its tensors of `dtype` (default
    float32): returns a closure that runs it."""
    m = SHAPE.fullmatch(shape_text)
    if not m:
        raise ValueError("unknown shape text " + shape_text)
    N, D, H, W, C = (int(m.group(i)) for i in range(1, 6))
    transposed = bool(m.group(6))
    k, s, p, K = (int(m.group(i)) for i in range(7, 11))
    cl = torch.channels_last_3d
    F = torch.nn.functional
    x = torch.randn(N, C, D, H, W, device=device, dtype=dtype).contiguous(memory_format=cl)
    if transposed:
        w = torch.randn(C, K, k, k, k, device=device, dtype=dtype).contiguous(memory_format=cl)
        y = F.conv_transpose3d(x, w, None, stride=s, padding=p)
    else:
        w = torch.randn(K, C, k, k, k, device=device, dtype=dtype).contiguous(memory_format=cl)
        y = F.conv3d(x, w, None, stride=s, padding=p)
    dy = torch.randn_like(y).contiguous(memory_format=cl)
    del y
    if op == "fprop":
        if transposed:
            return lambda: F.conv_transpose3d(x, w, None, stride=s, padding=p)
        return lambda: F.conv3d(x, w, None, stride=s, padding=p)
    mask = [op == "dgrad", op == "wgrad", False]
    return lambda: torch.ops.aten.convolution_backward(
        dy, x, w, None, [s] * 3, [p] * 3, [1] * 3, transposed, [0] * 3, 1, mask)


def main():
    args = parse_args()
    ours = run_ours(args)
    import torch

    torch.set_num_threads(args.threads)
    cl = torch.channels_last_3d
    settings = ours["settings"]
    net = settings["network"]
    grids = settings["grids_xyz"]
    info = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "mkldnn_available": torch.backends.mkldnn.is_available(),
        "mkldnn_enabled": torch.backends.mkldnn.enabled,
        "cpu_capability": getattr(torch.backends.cpu, "get_cpu_capability", lambda: "?")(),
        "threads": torch.get_num_threads(),
        "memory_format": "channels_last_3d",
        "inference": "torch.inference_mode(), model.eval()",
        "step": "model.train(), AM-GM loss, backward, Adam(lr 1e-4, betas 0.9/0.999, eps 1e-7), zero_grad(set_to_none)",
        "repeat": args.repeat,
        "warmup": args.warmup,
    }
    print("PyTorch %s | oneDNN (mkldnn) available %s, enabled %s | CPU capability %s | %d threads | "
          "channels_last_3d | float32" % (info["torch"], info["mkldnn_available"], info["mkldnn_enabled"],
                                           info["cpu_capability"], info["threads"]), flush=True)
    results = {}
    for r in ours["records"]:
        name = r["case"]
        torch.manual_seed(0)
        if r["kind"] == "unet" and r["op"] == "infer":
            model = build_unet(torch, net["filters"], net["in_channels"]).to(memory_format=cl)
            x = network_input(torch, grids["infer"], net["in_channels"], cl)
            ms, times = median_ms(infer_fn(torch, model, x), args.warmup, args.repeat)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
            results[name] = {"median_ms": ms, "times_ms": times, "peak_rss_mib": rss}
            del model, x
        elif r["kind"] == "unet" and r["op"] == "step":
            model = build_unet(torch, net["filters"], net["in_channels"]).to(memory_format=cl)
            x = network_input(torch, grids["step"], net["in_channels"], cl)
            g = target(torch, grids["step"], cl)
            step = step_fn(torch, model, x, g, settings.get("amgm_eps", 1e-5))
            ms, times = median_ms(step, args.warmup, args.repeat)
            results[name] = {"median_ms": ms, "times_ms": times}
            del model, step, x, g
        elif r["kind"] == "conv":
            fn = conv_fn(torch, r["shape"], r["op"])
            with torch.no_grad():
                ms, times = median_ms(fn, args.warmup, args.repeat)
            results[name] = {"median_ms": ms, "times_ms": times}
            del fn
        print("  torch %-22s %12.2f ms" % (name, results[name]["median_ms"]), file=sys.stderr, flush=True)

    m = ours["machine"]
    print()
    print("%s (%d logical CPUs) | ours: ctvnet %s (%s), kernels %s, level %s | PyTorch %s | %d threads | "
          "load at start %s, at end %s" % (
              m["cpu_model"], m["logical_cpus"], ours["ctvnet"]["version"], ours["ctvnet"]["commit"][:12],
              m["kernels"], m["isa"], info["torch"], args.threads,
              " ".join("%.2f" % v for v in m["load_average_start"]),
              " ".join("%.2f" % v for v in m["load_average_end"])))
    print("| case | shape (NDHWC) | GFLOP | ours ms | PyTorch ms | ours / PyTorch |")
    print("|---|---|---:|---:|---:|---:|")
    rows = []
    for r in ours["records"]:
        t = results.get(r["case"])
        if not t:
            continue
        ratio = r["median_ms"] / t["median_ms"]
        rows.append({"case": r["case"], "shape": r["shape"], "gflop": r["gflop"], "ours_ms": r["median_ms"],
                     "torch_ms": t["median_ms"], "ratio": ratio})
        print("| %s | %s | %.1f | %.1f | %.1f | %.2f |" % (r["case"], r["shape"], r["gflop"], r["median_ms"],
                                                          t["median_ms"], ratio))
    for r in ours["records"]:
        if "peak_rss_mib" in r:
            print("peak RSS after unet_infer: ours %.0f MiB, PyTorch %.0f MiB" % (
                r["peak_rss_mib"], results.get(r["case"], {}).get("peak_rss_mib", float("nan"))))
    print("load average now: %s" % " ".join("%.2f" % v for v in os.getloadavg()))
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump({"schema": "ctvnet-bench-cpu-peer", "version": 1, "peer": info, "ours": ours,
                       "torch": results, "rows": rows}, f, indent=2)
        os.replace(args.json + ".tmp", args.json)


if __name__ == "__main__":
    main()
