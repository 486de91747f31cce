"""PyTorch baseline for `pnpm bench study`: the study's recipe as one plain script, runs one after
another as the study ran them, on every core of the host.

Recipe (the same numbers bench/study.ts writes into the xnn sweep): for each model in
(mobilenet_v2, resnet18) and class weighting in (none, balanced): FE (frozen random backbone, the
20-10-5 head trained), then FT of the last --ft-layers weight-bearing non-normalisation backbone
modules plus the head, starting from the FE run's best checkpoint. AdamW, cross-entropy (weighted
by n / (k * count_c) for balanced), at most --epochs epochs per stage, early stopping after 3
epochs without a lower validation loss, learning rate x0.2 after 2 such epochs, the checkpoint with
the best validation weighted F1 kept and scored on the test split. Images: grayscale replicated to
3 channels, resized to --size, ImageNet mean/std; no augmentation (as the xnn side).

Prints one JSON line: {"seconds", "runs": [{"key", "testF1", "epochs", "seconds"}], "threads"}.
"""
import argparse
import copy
import json
import os
import time

import numpy as np
import torch
import torchvision
from PIL import Image
from sklearn.metrics import f1_score
from torch import nn

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--size", type=int, default=64)
p.add_argument("--epochs", type=int, default=10)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--fe-lr", type=float, default=1e-3)
p.add_argument("--ft-lr", type=float, default=1e-4)
p.add_argument("--weight-decay", type=float, default=1e-4)
p.add_argument("--ft-layers", type=int, default=15)
p.add_argument("--threads", type=int, default=os.cpu_count())
p.add_argument("--models", default="mobilenet_v2,resnet18")
p.add_argument("--seed", type=int, default=7)
args = p.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)
CLASSES = sorted(d for d in os.listdir(os.path.join(args.data, "train")) if not d.startswith("."))
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def load(split):
    xs, ys = [], []
    for label, c in enumerate(CLASSES):
        folder = os.path.join(args.data, split, c)
        for f in sorted(os.listdir(folder)):
            img = Image.open(os.path.join(folder, f)).convert("L").resize((args.size, args.size), Image.BILINEAR)
            xs.append(np.asarray(img, dtype=np.float32) / 255.0)
            ys.append(label)
    x = torch.from_numpy(np.stack(xs)).unsqueeze(1).repeat(1, 3, 1, 1)
    return (x - MEAN) / STD, torch.tensor(ys)


class Net(nn.Module):
    def __init__(self, backbone, features):
        super().__init__()
        self.backbone = backbone
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(
            nn.Linear(features, 20), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(20, 10), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(10, 5), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(5, len(CLASSES)),
        )

    def forward(self, x):
        return self.head(torch.flatten(self.pool(self.backbone(x)), 1))


def build(name):
    if name == "mobilenet_v2":
        return Net(torchvision.models.mobilenet_v2(weights=None).features, 1280)
    r = torchvision.models.resnet18(weights=None)
    return Net(nn.Sequential(*list(r.children())[:-2]), r.fc.in_features)


def set_stage(net, stage):
    for q in net.backbone.parameters():
        q.requires_grad_(False)
    for q in net.head.parameters():
        q.requires_grad_(True)
    if stage == "ft":
        candidates = [
            m for m in net.backbone.modules()
            if any(True for _ in m.parameters(recurse=False)) and not isinstance(m, nn.BatchNorm2d)
        ]
        for m in candidates[len(candidates) - args.ft_layers:]:
            for q in m.parameters(recurse=False):
                q.requires_grad_(True)


def evaluate(net, x, y, loss_fn):
    net.eval()
    with torch.no_grad():
        logits = torch.cat([net(x[i:i + 256]) for i in range(0, len(x), 256)])
    pred = logits.argmax(1).numpy()
    return loss_fn(logits, y).item(), f1_score(y.numpy(), pred, average="weighted", zero_division=0)


def fit(net, stage, weights, data):
    (xt, yt), (xv, yv) = data["train"], data["val"]
    set_stage(net, stage)
    params = [q for q in net.parameters() if q.requires_grad]
    lr = args.fe_lr if stage == "fe" else args.ft_lr
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=args.weight_decay)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.2, patience=2, min_lr=1e-6)
    loss_fn = nn.CrossEntropyLoss(weight=weights)
    g = torch.Generator().manual_seed(args.seed)
    best_f1, best_state, best_loss, since, epochs = -1.0, None, float("inf"), 0, 0
    for _ in range(args.epochs):
        # train(): BatchNorm normalises with batch statistics, its scale and shift frozen
        # (requires_grad False), as the study ran it and as xnn's `normalization: frozen` does.
        net.train()
        order = torch.randperm(len(xt), generator=g)
        for i in range(0, len(xt), args.batch):
            idx = order[i:i + args.batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(net(xt[idx]), yt[idx]).backward()
            opt.step()
        epochs += 1
        val_loss, val_f1 = evaluate(net, xv, yv, loss_fn)
        plateau.step(val_loss)
        if val_f1 > best_f1:
            best_f1, best_state = val_f1, copy.deepcopy(net.state_dict())
        if val_loss < best_loss:
            best_loss, since = val_loss, 0
        else:
            since += 1
            if since >= 3:
                break
    net.load_state_dict(best_state)
    return epochs


data = {s: load(s) for s in ("train", "val", "test")}
counts = torch.bincount(data["train"][1], minlength=len(CLASSES)).float()
balanced = len(data["train"][1]) / (len(CLASSES) * counts)
runs = []
t_all = time.perf_counter()
for model in args.models.split(","):
    for weighting in ("none", "balanced"):
        weights = balanced if weighting == "balanced" else None
        torch.manual_seed(args.seed)
        net = build(model)
        for stage in ("fe", "ft"):
            t = time.perf_counter()
            epochs = fit(net, stage, weights, data)
            _, test_f1 = evaluate(net, *data["test"], nn.CrossEntropyLoss())
            runs.append({
                "key": f"{model}/{weighting}/{stage}", "testF1": test_f1, "epochs": epochs,
                "seconds": time.perf_counter() - t,
            })
print(json.dumps({
    "seconds": time.perf_counter() - t_all, "runs": runs, "threads": torch.get_num_threads(),
    "torch": torch.__version__,
}), flush=True)
