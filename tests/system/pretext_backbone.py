"""Pretrains a torchvision backbone on a made-up pretext task, for tests/system/transferLearning.test.ts.

The pretext task: which lung holds the consolidation, on bacterial-pneumonia phantoms rendered by
the synthetic generator (other seeds than the 3-class set's). It needs the same low-level features
as the 3-class task (a bright irregular patch inside a lung field) without being its label: every
pretext image is of one class. A horizontal flip swaps the side, so each image is also seen flipped
with the other label.

Usage: python3 pretext_backbone.py IMAGES_JSON OUT.safetensors
  IMAGES_JSON: {"arch", "size", "epochs", "seed", "train": {"file", "labels"}, "val": {...}}; each
  file holds len(labels) grayscale images of size*size bytes, row-major; label 0 = left, 1 = right.
Writes the state dict with torchvision names (what `xnn weights import` reads) and prints one JSON
line: pretext accuracy on the held-out images, before and after training.

Inputs are normalised exactly as the xnn data pipeline does (gray replicated to RGB, pixel / 255,
ImageNet mean/std), so the imported weights see what they were trained on.
"""

import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

# write_safetensors: the equivalence tests' writer (the safetensors package is not in Debian 12).
sys.path.insert(
    0,
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "packages", "ml", "src", "weights", "testdata"),
)
from reference_models import write_safetensors  # noqa: E402

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def load(spec, size):
    raw = np.fromfile(spec["file"], dtype=np.uint8)
    n = len(spec["labels"])
    if raw.size != n * size * size:
        raise SystemExit(f"{spec['file']}: {raw.size} bytes, expected {n} images of {size}x{size}")
    gray = torch.from_numpy(raw.reshape(n, 1, size, size).astype(np.float32) / 255.0)
    x = (gray.expand(n, 3, size, size) - MEAN) / STD
    return x.contiguous(), torch.tensor(spec["labels"], dtype=torch.long)


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def main():
    spec_file, out = sys.argv[1], sys.argv[2]
    with open(spec_file) as f:
        spec = json.load(f)
    size, epochs, seed = spec["size"], spec["epochs"], spec["seed"]
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    xt, yt = load(spec["train"], size)
    xv, yv = load(spec["val"], size)
    # Flipped copies with the other side's label.
    xt, yt = torch.cat([xt, xt.flip(3)]), torch.cat([yt, 1 - yt])

    if spec["arch"] != "resnet18":
        raise SystemExit(f"unsupported arch {spec['arch']}")
    model = torchvision.models.resnet18(num_classes=2)
    before = accuracy(model, xv, yv)
    opt = torch.optim.AdamW(model.parameters(), lr=spec.get("lr", 2e-3), weight_decay=1e-4)
    batch = 32
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(yt), generator=gen)
        for i in range(0, len(order), batch):
            idx = order[i : i + batch]
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()

    # BatchNorm statistics measured once more over the training images with the final weights
    # (a cumulative average, not the running estimate that lagged behind the training).
    model.train()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None
        for i in range(0, len(yt), 128):
            model(xt[i : i + 128])
    after = accuracy(model, xv, yv)
    write_safetensors(out, model.state_dict())
    print(json.dumps({"valAccuracyBefore": before, "valAccuracy": after}))


if __name__ == "__main__":
    main()
