"""PyTorch reference for `pnpm bench ig`: the same Integrated Gradients computation as
packages/ml/src/explain (MobileNetV2 1.0 + the 20-10-5 ReLU head, softmax probability of one class,
trapezoid on `steps` intervals = steps + 1 gradient evaluations, batched in chunks), timed on CPU.
Like the tfjs side (prepareForExplanation), the eval-mode batch norms are folded into the convs
before timing (torch.fx conv+bn fusion); argv[6] == "nofold" skips that.
Prints one JSON line per image size, with the minor page faults of each timed run: glibc's malloc
returns large freed blocks to the kernel and takes them back page by page (the dynamic mmap
threshold), which some processes do on every batch and others never; `pnpm bench ig` runs this
both as a plain script and with MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ fixed (see there)."""
import json
import os
import resource
import sys
import time

import torch
import torchvision
from torch.fx.experimental.optimization import fuse

sizes = [int(s) for s in sys.argv[1].split(",")]
steps = int(sys.argv[2])
threads = int(sys.argv[3])
chunks = [int(c) for c in sys.argv[4].split(",")]
reps = int(sys.argv[5]) if len(sys.argv) > 5 else 1
fold = not (len(sys.argv) > 6 and sys.argv[6] == "nofold")
torch.set_num_threads(threads)
torch.manual_seed(0)


def build():
    net = torchvision.models.mobilenet_v2(weights=None)
    net.classifier = torch.nn.Sequential(
        torch.nn.Linear(1280, 20), torch.nn.ReLU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(20, 10), torch.nn.ReLU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(10, 5), torch.nn.ReLU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(5, 3),
    )
    net.eval()
    if fold:
        # Conv2d + BatchNorm2d (eval) -> one Conv2d with bias, as foldBatchNorm does in tfjs.
        net = fuse(net)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    for p in net.parameters():
        # Weights are constants: autograd then skips every weight gradient.
        p.requires_grad_(False)
    return net


def ig(net, x, baseline, target, steps, chunk):
    alphas = torch.linspace(0, 1, steps + 1)
    weights = torch.ones(steps + 1)
    weights[0] = weights[-1] = 0.5
    total = torch.zeros_like(x)
    for s in range(0, steps + 1, chunk):
        a = alphas[s:s + chunk].view(-1, 1, 1, 1)
        pts = (baseline + a * (x - baseline)).requires_grad_(True)
        prob = torch.softmax(net(pts), dim=1)[:, target].sum()
        (g,) = torch.autograd.grad(prob, pts)
        total += (g * weights[s:s + chunk].view(-1, 1, 1, 1)).sum(0, keepdim=True)
    return (x - baseline) * total / steps


net = build()
for size, chunk in zip(sizes, chunks):
    x = torch.randn(1, 3, size, size)
    baseline = torch.full_like(x, -2.0)
    ig(net, x, baseline, 0, chunk, chunk)  # warm-up: one full chunk, as on the tfjs side
    runs = []
    for _ in range(reps):
        f = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t = time.perf_counter()
        ig(net, x, baseline, 0, steps, chunk)
        runs.append((time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f))
    runs.sort()
    seconds, faults = runs[len(runs) // 2]
    print(json.dumps({
        "size": size, "chunk": chunk, "threads": threads, "seconds": seconds, "faults": faults,
        "all": [r[0] for r in runs], "folded": fold, "torch": torch.__version__,
        "mmapThreshold": os.environ.get("MALLOC_MMAP_THRESHOLD_"),
    }), flush=True)
