"""PyTorch reference for `pnpm bench train`: one measurement of images/second at batch 32 (--batch) on CPU,
the same computation as bench/train.ts on the tfjs side.

Models: torchvision mobilenet_v2(width_mult=1.0), resnet18, and ConvNeXt V2 atto (defined here:
torchvision 0.14 has none), each with the xnn head: global average pool (+ the final LayerNorm for
ConvNeXt, part of its backbone) -> Linear 20 -> ReLU -> Dropout 0.2 -> Linear 10 -> ReLU -> Dropout
-> Linear 5 -> ReLU -> Dropout -> Linear 3.

Modes: fe (backbone requires_grad False, train mode, the whole model runs forward every step), ft
(the last N weight-bearing non-normalisation backbone modules trainable), full (everything), infer
(eval + no_grad). A training step: AdamW (lr 1e-4, weight decay 0.01), cross-entropy, backward, step.

Prints one JSON line {"imgPerSec", "seconds", ...}; with --barrier it first prints {"ready": true}
after the warm-up step and waits for a line on stdin before timing (concurrent processes start
together)."""
import argparse
import json
import resource
import sys
import time

import torch
import torchvision
from torch import nn

NUM_CLASSES = 3

p = argparse.ArgumentParser()
p.add_argument("--model", required=True, choices=["mobilenet_v2", "resnet18", "resnet50", "convnext_v2_atto", "convnext_v2_tiny"])
p.add_argument("--size", type=int, required=True)
p.add_argument("--mode", required=True, choices=["fe", "ft", "full", "infer"])
p.add_argument("--steps", type=int, default=3)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--ft-layers", type=int, default=0)
p.add_argument("--barrier", action="store_true")
p.add_argument("--batch", type=int, default=32)
args = p.parse_args()
BATCH = args.batch

torch.set_num_threads(args.threads)
torch.set_num_interop_threads(1)
torch.manual_seed(0)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor (ConvNeXt's channels_first LayerNorm)."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class GRN(nn.Module):
    """Global Response Normalization on NHWC (ConvNeXt V2); gamma and beta start at zero."""

    def __init__(self, dim):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x):
        gx = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class Block(nn.Module):
    """ConvNeXt V2 block: dw 7x7 -> LN -> Linear 4x -> GELU -> GRN -> Linear, residual (no drop path)."""

    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.grn = GRN(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.grn(self.act(self.pwconv1(self.norm(y)))))
        return x + y.permute(0, 3, 1, 2)


def convnext_v2(depths=(2, 2, 6, 2), dims=(40, 80, 160, 320)):
    """ConvNeXt V2 feature extractor (atto by default): stem 4x4/4 + LN, then per stage a downsample
    (LN + 2x2/2 conv) for stages 1-3 and its blocks. Module order = forward order."""
    layers = [nn.Conv2d(3, dims[0], kernel_size=4, stride=4), LayerNorm2d(dims[0], eps=1e-6)]
    for s, (depth, dim) in enumerate(zip(depths, dims)):
        if s > 0:
            layers += [LayerNorm2d(dims[s - 1], eps=1e-6), nn.Conv2d(dims[s - 1], dim, kernel_size=2, stride=2)]
        layers += [Block(dim) for _ in range(depth)]
    return nn.Sequential(*layers), dims[-1]


class Net(nn.Module):
    def __init__(self, backbone, features, final_norm):
        super().__init__()
        self.backbone = backbone
        self.pool = nn.AdaptiveAvgPool2d(1)
        # ConvNeXt's own norm on the pooled feature belongs to the backbone (frozen like the others).
        self.final_norm = nn.LayerNorm(features, eps=1e-6) if final_norm else nn.Identity()
        self.head = nn.Sequential(
            nn.Linear(features, 20), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(20, 10), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(10, 5), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(5, NUM_CLASSES),
        )

    def backbone_modules(self):
        return [*self.backbone.modules(), self.final_norm]

    def forward(self, x):
        return self.head(self.final_norm(torch.flatten(self.pool(self.backbone(x)), 1)))


def build(name):
    if name == "mobilenet_v2":
        return Net(torchvision.models.mobilenet_v2(weights=None, width_mult=1.0).features, 1280, False)
    if name in ("resnet18", "resnet50"):
        r = getattr(torchvision.models, name)(weights=None)
        return Net(nn.Sequential(*list(r.children())[:-2]), r.fc.in_features, False)
    if name == "convnext_v2_tiny":
        backbone, features = convnext_v2((3, 3, 9, 3), (96, 192, 384, 768))
    else:
        backbone, features = convnext_v2()
    return Net(backbone, features, True)


NORMS = (nn.BatchNorm2d, nn.LayerNorm)

net = build(args.model)
if args.mode != "infer":
    for q in net.parameters():
        q.requires_grad_(args.mode == "full")
    for q in net.head.parameters():
        q.requires_grad_(True)
    if args.mode == "ft":
        # Weight-bearing, non-normalisation backbone modules in forward order (convs, Linear, GRN).
        candidates = [
            m for m in net.backbone_modules()
            if any(True for _ in m.parameters(recurse=False)) and not isinstance(m, NORMS)
        ]
        if args.ft_layers > len(candidates):
            sys.exit(f"--ft-layers {args.ft_layers} > {len(candidates)} eligible backbone modules")
        for m in candidates[len(candidates) - args.ft_layers:]:
            for q in m.parameters(recurse=False):
                q.requires_grad_(True)

x = torch.randn(BATCH, 3, args.size, args.size)
y = torch.arange(BATCH) % NUM_CLASSES

if args.mode == "infer":
    net.eval()
    trainable = 0

    def step():
        with torch.no_grad():
            torch.softmax(net(x), dim=1).numpy()
else:
    net.train()
    params = [q for q in net.parameters() if q.requires_grad]
    trainable = sum(q.numel() for q in params)
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        logits = net(x)
        loss = loss_fn(logits, y)
        loss.backward()
        opt.step()
        logits.detach().argmax(1).numpy()
        loss.item()

step()  # warm-up
if args.barrier:
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()
t = time.perf_counter()
for _ in range(args.steps):
    step()
seconds = time.perf_counter() - t
print(json.dumps({
    "imgPerSec": BATCH * args.steps / seconds, "seconds": seconds, "steps": args.steps,
    "trainableParams": trainable, "threads": torch.get_num_threads(), "torch": torch.__version__,
    "peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}), flush=True)
