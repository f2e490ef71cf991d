#!/usr/bin/python3
"""Golden end-to-end reference for the ctvnet U-Net, made with stock PyTorch.

What it makes
    tests/data/golden_unet.h5: a tiny 3D U-Net (SPEC section 3: levels 3, base filters 4,
    so 4-8-16 filters, 2 input channels) built only from stock torch.nn modules (Conv3d,
    BatchNorm3d, ReLU, MaxPool3d, ConvTranspose3d) and torch.optim.Adam, in float64, with
    its input, target, initial weights, the first train-mode forward pass (output, AM-GM
    loss, every parameter gradient, the batch-norm running estimates after it), ten Adam
    steps (their losses, the final weights and buffers) and an eval-mode forward pass
    with the final weights. The engine's golden tests compare our network against it.
    PyTorch is used by this script only, never by the product or its tests.

How to run it (from the repository root; takes a few seconds on one CPU thread)
    /usr/bin/python3 tools/make_golden_unet.py [--out tests/data/golden_unet.h5]

Packages it needs (Debian bookworm, as root)
    apt-get install -y --no-install-recommends python3-torch python3-h5py
    (torch 1.13, h5py 3.7; use Debian's /usr/bin/python3, which sees these packages.)

Determinism
    Every random draw comes from fixed seeds (SEED below) and torch runs on one thread
    with deterministic algorithms, so running the script twice gives identical numbers
    (and, with HDF5 timestamps off, a byte-identical file).

The network (state_dict names in brackets; l = 0, 1, 2; f = 4, 8, 16)
    encoder level l, l = 0..2 (level 2 is the bottom):
        [enc.l.conv1] Conv3d(c_in -> f_l, 3x3x3, padding 1, bias) -> [enc.l.bn1]
        BatchNorm3d(f_l, momentum 0.1, eps 1e-5) -> ReLU -> [enc.l.conv2] Conv3d(f_l -> f_l)
        -> [enc.l.bn2] BatchNorm3d -> ReLU; c_in is 2 at level 0, f_{l-1} above it.
        MaxPool3d(2, stride 2) between levels (the unpooled output is the skip).
    decoder for level l, l = 1 then 0:
        [up.l] ConvTranspose3d(f_{l+1} -> f_l, kernel 2, stride 2, bias);
        torch.cat([skip_l, up], dim=1)  (skip first: channels [0, f_l) are the skip,
        [f_l, 2 f_l) the upsampled tensor);
        [dec.l.conv1] Conv3d(2 f_l -> f_l) -> [dec.l.bn1] -> ReLU -> [dec.l.conv2]
        Conv3d(f_l -> f_l) -> [dec.l.bn2] -> ReLU.
    head: [head] Conv3d(4 -> 1, 1x1x1, bias) -> sigmoid.
    Init: torch.manual_seed(SEED), then modules in the order enc.0..2, up.1, dec.1, up.0,
    dec.0, head, each convolution's weight xavier_uniform_ (fan_in = in_channels *
    kernel volume, fan_out = out_channels * kernel volume), biases zero, BN gamma 1,
    beta 0, running_mean 0, running_var 1.

Loss (AM-GM, SPEC section 3), sums over every voxel of the whole batch, eps = 1e-5:
    L = 1 - (2 sum(p g) + eps) / (sum(p^2 + g^2) + eps)

File layout (every dataset float64, gzip-compressed; arrays in PyTorch's layouts)
    root attributes: levels, base_filters, in_channels, N, D, H, W, bn_momentum, bn_eps,
        loss_eps, adam_lr, adam_beta1, adam_beta2, adam_eps, adam_steps, seed,
        torch_version (string), concat_order = "skip,up" (string)
    /input            (N, 2, D, H, W)  channel 0 ~ N(0,1) rounded to a multiple of 2^-10,
                                       channel 1 a binary ellipsoid per batch element
    /target           (N, 1, D, H, W)  binary: channel 1's ellipsoid united with a larger,
                                       shifted one (contains it, extends beyond it)
    /init/<key>       every parameter and buffer of the state_dict before training
                      (num_batches_tracked omitted: it is 0 here, 1 after the first
                      forward pass, 10 at the end)
    /output           (N, 1, D, H, W)  sigmoid output of the first train-mode forward pass
    /loss             scalar           its AM-GM loss
    /grad/<param>     d loss / d param of that pass (conv biases in front of a BN have a
                      zero gradient mathematically; what torch gives is stored)
    /after_first_forward/<bn>.running_mean, <bn>.running_var   after that pass
    /adam_losses      (10,)  reloaded from /init, 10 steps of zero_grad, train-mode forward,
                      loss, backward, Adam step; entry k is the loss of step k's forward
                      pass, before its update (adam_losses[0] == /loss)
    /final/<key>      every parameter and buffer after the 10 steps
    /eval_output      (N, 1, D, H, W)  eval-mode output (running estimates) after them
    Weight layouts: Conv3d (K, C, T, R, S); ConvTranspose3d (C_in, C_out, T, R, S);
    bias, BN weight/bias/running_mean/running_var (channels,). tests/data/README.md says
    how these map onto the engine's NDHWC / KTRSC layouts.
"""

import argparse
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn

SEED = 20211
LEVELS = 3
BASE_FILTERS = 4
IN_CHANNELS = 2
N, D, H, W = 2, 16, 20, 24
BN_MOMENTUM = 0.1
BN_EPS = 1e-5
LOSS_EPS = 1e-5
ADAM_LR = 1e-3
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-7
ADAM_STEPS = 10


class DoubleConv(nn.Module):
    """Two blocks of Conv3d 3x3x3 (pad 1, bias) -> BatchNorm3d -> ReLU."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, padding=1, bias=True)
        self.bn1 = nn.BatchNorm3d(cout, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv3d(cout, cout, 3, padding=1, bias=True)
        self.bn2 = nn.BatchNorm3d(cout, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(x)))


class UNet3d(nn.Module):
    def __init__(self, levels, base, cin):
        super().__init__()
        f = [base * 2**l for l in range(levels)]
        self.levels = levels
        self.enc = nn.ModuleList()
        c = cin
        for l in range(levels):
            self.enc.append(DoubleConv(c, f[l]))
            c = f[l]
        self.pool = nn.MaxPool3d(2, stride=2)
        self.up = nn.ModuleList(
            [nn.ConvTranspose3d(f[l + 1], f[l], 2, stride=2, bias=True) for l in range(levels - 1)])
        self.dec = nn.ModuleList([DoubleConv(2 * f[l], f[l]) for l in range(levels - 1)])
        self.head = nn.Conv3d(f[0], 1, 1, bias=True)

    def init_order(self):
        """Convolutions in the order their weights are drawn."""
        mods = []
        for l in range(self.levels):
            mods += [self.enc[l].conv1, self.enc[l].conv2]
        for l in reversed(range(self.levels - 1)):
            mods += [self.up[l], self.dec[l].conv1, self.dec[l].conv2]
        return mods + [self.head]

    def initialise(self):
        for m in self.init_order():
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
                m.reset_running_stats()

    def forward(self, x):
        skips = []
        for l in range(self.levels):
            x = self.enc[l](x)
            if l < self.levels - 1:
                skips.append(x)
                x = self.pool(x)
        for l in reversed(range(self.levels - 1)):
            up = self.up[l](x)
            x = self.dec[l](torch.cat([skips[l], up], dim=1))
        return torch.sigmoid(self.head(x))


def amgm_loss(p, g, eps=LOSS_EPS):
    return 1.0 - (2.0 * torch.sum(p * g) + eps) / (torch.sum(p * p + g * g) + eps)


def ellipsoid(centre, radii):
    z, y, x = torch.meshgrid(torch.arange(D, dtype=torch.float64),
                             torch.arange(H, dtype=torch.float64),
                             torch.arange(W, dtype=torch.float64), indexing="ij")
    r = (((z - centre[0]) / radii[0])**2 + ((y - centre[1]) / radii[1])**2 +
         ((x - centre[2]) / radii[2])**2)
    return (r <= 1.0).to(torch.float64)


def make_data(gen):
    x = torch.zeros(N, IN_CHANNELS, D, H, W, dtype=torch.float64)
    g = torch.zeros(N, 1, D, H, W, dtype=torch.float64)
    noise = torch.randn(N, D, H, W, generator=gen, dtype=torch.float64)
    # Rounded to a multiple of 2^-10: still standard normal to the eye, exact in float32,
    # and it compresses.
    x[:, 0] = torch.round(noise * 1024.0) / 1024.0
    # (centre z,y,x), (radii z,y,x) of the inner blob; the target adds a larger shifted one.
    blobs = [((7.0, 9.0, 11.0), (3.5, 4.0, 5.0), (8.0, 10.5, 12.5), (5.0, 6.0, 7.5)),
             ((9.0, 11.0, 13.5), (2.5, 5.0, 4.0), (8.5, 9.5, 12.0), (4.5, 7.0, 6.0))]
    for n, (c_in, r_in, c_out, r_out) in enumerate(blobs):
        inner = ellipsoid(c_in, r_in)
        outer = torch.maximum(inner, ellipsoid(c_out, r_out))
        assert inner.sum() > 0 and outer.sum() > inner.sum() * 1.5
        x[n, 1] = inner
        g[n, 0] = outer
    return x, g


def bn_buffer_keys(model):
    return [k for k in model.state_dict() if k.endswith("running_mean") or k.endswith("running_var")]


def state_arrays(model):
    """Every parameter and buffer as float64 numpy, num_batches_tracked left out."""
    return {k: v.detach().clone().numpy() for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked")}


def write(f, path, array):
    a = np.array(array, dtype=np.float64, order="C")  # keeps a 0-d array scalar
    if a.ndim == 0:
        f.create_dataset(path, data=a, track_times=False)
    else:  # one chunk per dataset: the arrays are small
        f.create_dataset(path, data=a, chunks=a.shape, compression="gzip", compression_opts=9,
                         shuffle=True, track_times=False)


def open_without_times(path):
    """A new HDF5 file (format of HDF5 1.10) whose root group stores no timestamps."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_V110, h5py.h5f.LIBVER_V110)
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    return h5py.File(h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fapl=fapl, fcpl=fcpl))


def make_group(f, name):
    """A group that stores no timestamps, so that reruns give byte-identical files."""
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    h5py.h5g.create(f.id, name.encode(), gcpl=gcpl)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "golden_unet.h5"))
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float64)

    torch.manual_seed(SEED)
    model = UNet3d(LEVELS, BASE_FILTERS, IN_CHANNELS).double()
    model.initialise()
    init = state_arrays(model)
    init_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    gen = torch.Generator().manual_seed(SEED + 1)
    x, g = make_data(gen)

    # First forward pass in train mode, its loss and gradients.
    model.train()
    model.zero_grad(set_to_none=True)
    p = model(x)
    loss = amgm_loss(p, g)
    loss.backward()
    output = p.detach().clone().numpy()
    loss0 = loss.item()
    grads = {k: v.grad.detach().clone().numpy() for k, v in model.named_parameters()}
    after_first = {k: model.state_dict()[k].detach().clone().numpy() for k in bn_buffer_keys(model)}

    # Adam from the initial weights and buffers.
    model.load_state_dict(init_state)
    opt = torch.optim.Adam(model.parameters(), lr=ADAM_LR, betas=ADAM_BETAS, eps=ADAM_EPS)
    adam_losses = []
    for _ in range(ADAM_STEPS):
        opt.zero_grad(set_to_none=True)
        loss = amgm_loss(model(x), g)
        loss.backward()
        opt.step()
        adam_losses.append(loss.item())
    if adam_losses[0] != loss0:
        sys.exit("golden: the reloaded first Adam pass does not reproduce the first loss")
    final = state_arrays(model)
    model.eval()
    with torch.no_grad():
        eval_output = model(x).numpy()

    out = os.path.abspath(args.out)
    tmp = out + ".tmp"
    with open_without_times(tmp) as f:
        for group in ("init", "grad", "after_first_forward", "final"):
            make_group(f, group)
        attrs = dict(levels=LEVELS, base_filters=BASE_FILTERS, in_channels=IN_CHANNELS, N=N,
                     D=D, H=H, W=W, bn_momentum=BN_MOMENTUM, bn_eps=BN_EPS, loss_eps=LOSS_EPS,
                     adam_lr=ADAM_LR, adam_beta1=ADAM_BETAS[0], adam_beta2=ADAM_BETAS[1],
                     adam_eps=ADAM_EPS, adam_steps=ADAM_STEPS, seed=SEED)
        for k, v in attrs.items():
            f.attrs[k] = v
        f.attrs["torch_version"] = str(torch.__version__)
        f.attrs["concat_order"] = "skip,up"
        write(f, "input", x.numpy())
        write(f, "target", g.numpy())
        for k, v in init.items():
            write(f, "init/" + k, v)
        write(f, "output", output)
        write(f, "loss", loss0)
        for k, v in grads.items():
            write(f, "grad/" + k, v)
        for k, v in after_first.items():
            write(f, "after_first_forward/" + k, v)
        write(f, "adam_losses", np.array(adam_losses))
        for k, v in final.items():
            write(f, "final/" + k, v)
        write(f, "eval_output", eval_output)
    os.replace(tmp, out)
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")
    print(f"loss {loss0!r}")
    print("adam_losses " + " ".join(repr(v) for v in adam_losses))


if __name__ == "__main__":
    main()
