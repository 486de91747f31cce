"""Reference models for packages/ml/src/weights/equivalence.test.ts.

Builds each source architecture in PyTorch with random weights and fixed BatchNorm statistics,
writes its state dict the way it is published (safetensors with torchvision / timm / official
parameter names; Keras H5 for MobileNetV2 and ResNet-50 where asked), and records its logits on a
few random images. Usage: python3 reference_models.py OUT_DIR CASE [CASE ...]; writes
OUT_DIR/CASE.safetensors (or .h5) and OUT_DIR/CASE.json ({arch, size, input NHWC, logits}).

Needs Debian's python3-torch and python3-torchvision (and python3-h5py for the H5 cases).
"""

import json
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

SIZE = 64
# The two ~25M-parameter models run at 32 px (still 1x1 at the end): the tfjs cpu backend's
# 7x7 depthwise and 3x3 convs dominate the test's time, and 32 px exercises every stride-2 layer.
SIZES = {"resnet50": 32, "resnet50_keras": 32, "convnext_v2_tiny": 32}
BATCH = 2
CLASSES = 10

# --- safetensors, written by hand (the safetensors package is not packaged in Debian 12) -------

DTYPES = {torch.float32: "F32", torch.int64: "I64", torch.float16: "F16", torch.float64: "F64"}


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        data = t.numpy().tobytes()  # native order: little-endian on every machine we run on
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


# --- ConvNeXt V2 following the paper (timm is not packaged); parameter names as timm's ---------


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over channels of an NCHW tensor."""

    def forward(self, x):
        return F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps).permute(0, 3, 1, 2)


class GRN(nn.Module):
    """Global Response Normalization on NHWC: x + bias + weight * (x * N(x))."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x):
        gx = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + self.eps)
        return x + self.bias + self.weight * (x * nx)


class Mlp(nn.Module):
    """fc1, GELU, GRN, fc2. conv_mlp (timm's atto..nano): 1x1 convs on NCHW instead of Linear on NHWC."""

    def __init__(self, dim, conv_mlp):
        super().__init__()
        layer = (lambda i, o: nn.Conv2d(i, o, 1)) if conv_mlp else nn.Linear
        self.fc1 = layer(dim, 4 * dim)
        self.act = nn.GELU()
        self.grn = GRN(4 * dim)
        self.fc2 = layer(4 * dim, dim)
        self.conv_mlp = conv_mlp

    def forward(self, x):
        x = self.act(self.fc1(x))
        if self.conv_mlp:  # GRN is written for NHWC; the same function on NCHW
            return self.fc2(self.grn(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))
        return self.fc2(self.grn(x))


class Block(nn.Module):
    def __init__(self, dim, conv_mlp):
        super().__init__()
        self.conv_dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = LayerNorm2d(dim, eps=1e-6) if conv_mlp else nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, conv_mlp)
        self.conv_mlp = conv_mlp

    def forward(self, x):
        y = self.conv_dw(x)
        if self.conv_mlp:
            return x + self.mlp(self.norm(y))
        y = self.mlp(self.norm(y.permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
        return x + y


class Stage(nn.Module):
    def __init__(self, cin, cout, depth, conv_mlp):
        super().__init__()
        self.downsample = nn.Identity() if cin == cout else nn.Sequential(LayerNorm2d(cin, eps=1e-6), nn.Conv2d(cin, cout, 2, stride=2))
        self.blocks = nn.Sequential(*[Block(cout, conv_mlp) for _ in range(depth)])

    def forward(self, x):
        return self.blocks(self.downsample(x))


class Head(nn.Module):
    def __init__(self, dim, classes):
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.fc = nn.Linear(dim, classes)


class ConvNeXtV2(nn.Module):
    def __init__(self, depths, dims, classes, conv_mlp=False):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dims[0], 4, stride=4), LayerNorm2d(dims[0], eps=1e-6))
        self.stages = nn.Sequential(*[Stage(dims[max(i - 1, 0)], dims[i], depths[i], conv_mlp) for i in range(4)])
        self.head = Head(dims[-1], classes)

    def forward(self, x):
        x = self.stages(self.stem(x)).mean((2, 3))
        return self.head.fc(self.head.norm(x))


# --- timm and official names, derived from the modules above / torchvision ---------------------

TIMM_MB_REPEATS = [1, 2, 3, 4, 3, 3, 1]


def timm_mobilenet_v2_names(sd):
    """torchvision MobileNetV2 state dict -> timm mobilenetv2_100 names."""
    out, block_names = {}, []
    for s, n in enumerate(TIMM_MB_REPEATS):
        block_names += [f"blocks.{s}.{j}" for j in range(n)]
    for k, v in sd.items():
        mod, p = k.rsplit(".", 1)
        parts = mod.split(".")
        if mod == "features.0.0":
            new = "conv_stem"
        elif mod == "features.0.1":
            new = "bn1"
        elif mod == "features.18.0":
            new = "conv_head"
        elif mod == "features.18.1":
            new = "bn2"
        elif mod == "classifier.1":
            new = "classifier"
        else:
            i = int(parts[1]) - 1
            sub = ".".join(parts[3:])
            table = (
                {"0.0": "conv_dw", "0.1": "bn1", "1": "conv_pw", "2": "bn2"}
                if i == 0
                else {"0.0": "conv_pw", "0.1": "bn1", "1.0": "conv_dw", "1.1": "bn2", "2": "conv_pwl", "3": "bn3"}
            )
            new = f"{block_names[i]}.{table[sub]}"
        out[f"{new}.{p}"] = v
    return out


def official_convnext_names(sd):
    """timm-named ConvNeXt V2 state dict -> facebookresearch/ConvNeXt-V2 names (GRN as [1, 1, 1, C])."""
    out = {}
    for k, v in sd.items():
        n = k.replace("stem.", "downsample_layers.0.")
        if ".downsample." in n:
            s = n.split(".")[1]
            n = n.replace(f"stages.{s}.downsample.", f"downsample_layers.{s}.")
        n = n.replace(".blocks.", ".").replace("conv_dw", "dwconv").replace("mlp.fc1", "pwconv1").replace("mlp.fc2", "pwconv2")
        n = n.replace("head.norm", "norm").replace("head.fc", "head")
        if ".mlp.grn." in n:
            n = n.replace(".mlp.grn.weight", ".grn.gamma").replace(".mlp.grn.bias", ".grn.beta")
            v = v.reshape(1, 1, 1, -1)
        out[n] = v
    return out


# --- random but well-scaled weights ------------------------------------------------------------


# --- Keras-convention variants and Keras H5 ------------------------------------------------------


class TfSamePad(nn.Module):
    """TF/Keras 'same' for a stride-2 3x3 conv on an even input: 0 rows/cols before, 1 after."""

    def forward(self, x):
        return F.pad(x, (0, 1, 0, 1))


def keras_mobilenet_v2(classes):
    """torchvision's MobileNetV2 rewired to keras.applications' conventions: TF-style padding of
    stride-2 convs, BatchNorm eps 1e-3 (inputs must have even sizes at every stride-2 layer)."""
    model = torchvision.models.mobilenet_v2(num_classes=classes)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = 1e-3
    for parent in list(model.modules()):  # a snapshot: the loop inserts modules
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Conv2d) and child.stride == (2, 2):
                child.padding = (0, 0)
                setattr(parent, name, nn.Sequential(TfSamePad(), child))
    return model


def keras_resnet50(classes):
    """torchvision's ResNet-50 rewired to keras.applications.ResNet50 (v1): the stride on the first
    1x1 conv of each block, biases on every conv, BatchNorm eps 1.001e-5."""
    model = torchvision.models.resnet50(num_classes=classes)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = 1.001e-5
        if isinstance(m, nn.Conv2d):
            m.bias = nn.Parameter(torch.zeros(m.out_channels))
        if isinstance(m, torchvision.models.resnet.Bottleneck) and m.conv2.stride == (2, 2):
            m.conv1.stride, m.conv2.stride = (2, 2), (1, 1)
    return model


def keras_layers(arch, sd):
    """Keras layer name -> [(weight name, array in Keras layout)] for a Keras-convention model."""
    layers = {}

    def conv(name, prefix, depthwise=False):
        w = sd[f"{prefix}.weight"]
        kind = "depthwise_kernel" if depthwise else "kernel"
        layers[name] = [(kind, w.permute(2, 3, 0, 1) if depthwise else w.permute(2, 3, 1, 0))]
        if f"{prefix}.bias" in sd:
            layers[name].append(("bias", sd[f"{prefix}.bias"]))

    def bn(name, prefix):
        layers[name] = [(k, sd[f"{prefix}.{p}"]) for k, p in
                        [("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"), ("moving_variance", "running_var")]]

    def dense(name, prefix):
        layers[name] = [("kernel", sd[f"{prefix}.weight"].t()), ("bias", sd[f"{prefix}.bias"])]

    if arch == "mobilenet_v2":
        # Stride-2 convs sit in a Sequential(pad, conv): their parameters are under ".1".
        def c(prefix):
            return prefix + ".1" if f"{prefix}.1.weight" in sd else prefix

        conv("Conv1", c("features.0.0"))
        bn("bn_Conv1", "features.0.1")
        for i in range(1, 18):
            pre = "expanded_conv_" if i == 1 else f"block_{i - 1}_"
            f = f"features.{i}.conv"
            if i == 1:
                conv(pre + "depthwise", c(f + ".0.0"), True)
                bn(pre + "depthwise_BN", f + ".0.1")
                conv(pre + "project", f + ".1")
                bn(pre + "project_BN", f + ".2")
            else:
                conv(pre + "expand", f + ".0.0")
                bn(pre + "expand_BN", f + ".0.1")
                conv(pre + "depthwise", c(f + ".1.0"), True)
                bn(pre + "depthwise_BN", f + ".1.1")
                conv(pre + "project", f + ".2")
                bn(pre + "project_BN", f + ".3")
        conv("Conv_1", "features.18.0")
        bn("Conv_1_bn", "features.18.1")
        dense("predictions", "classifier.1")
    else:
        conv("conv1_conv", "conv1")
        bn("conv1_bn", "bn1")
        for i, n in enumerate([3, 4, 6, 3]):
            for j in range(n):
                pre, mod = f"conv{i + 2}_block{j + 1}", f"layer{i + 1}.{j}"
                if j == 0:
                    conv(pre + "_0_conv", mod + ".downsample.0")
                    bn(pre + "_0_bn", mod + ".downsample.1")
                for k in (1, 2, 3):
                    conv(f"{pre}_{k}_conv", f"{mod}.conv{k}")
                    bn(f"{pre}_{k}_bn", f"{mod}.bn{k}")
        dense("predictions", "fc")
    return layers


def write_keras_h5(path, layers, whole_model):
    """The layout Keras 2 writes: (under /model_weights for model.save, at the root for
    save_weights and the keras.applications downloads) one group per layer with attribute
    weight_names, datasets at <layer>/<layer>/<weight>:0; attribute layer_names lists every layer,
    weightless ones included."""
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if whole_model else f
        names = ["input_1", *layers.keys()]
        root.attrs["layer_names"] = np.array([n.encode() for n in names])
        root.attrs["backend"] = b"tensorflow"
        root.attrs["keras_version"] = b"2.15.0"
        root.create_group("input_1").attrs["weight_names"] = np.array([], dtype="S1")
        for name, weights in layers.items():
            g = root.create_group(name)
            g.attrs["weight_names"] = np.array([f"{name}/{w}:0".encode() for w, _ in weights])
            for w, v in weights:
                g.create_dataset(f"{name}/{w}:0", data=v.detach().contiguous().numpy().astype("float32"))
        if whole_model:
            f.attrs["model_config"] = b'{"class_name": "Functional"}'


def randomize(model, gen, size):
    """Random affine parameters everywhere, then BatchNorm statistics measured on random images
    (so activations neither explode nor die through 50 layers), then frozen in eval mode."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_((torch.rand(m.bias.shape, generator=gen) - 0.5) * 0.4)
            elif isinstance(m, GRN):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
            elif isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.05)
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        if bns:
            for m in bns:
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration batches
            model.train()
            for _ in range(4):
                model(torch.randn(8, 3, size, size, generator=gen))
    model.eval()


def build(case, gen):
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
    if case == "mobilenet_v2_keras":
        return "mobilenet_v2", keras_mobilenet_v2(CLASSES)
    if case == "resnet50_keras":
        return "resnet50", keras_resnet50(CLASSES)
    if case.startswith("resnet18"):
        return "resnet18", torchvision.models.resnet18(num_classes=CLASSES)
    if case.startswith("resnet50"):
        return "resnet50", torchvision.models.resnet50(num_classes=CLASSES)
    if case.startswith("mobilenet_v2"):
        return "mobilenet_v2", torchvision.models.mobilenet_v2(num_classes=CLASSES)
    if case.startswith("convnext_v2_atto"):
        # timm builds convnextv2_atto with conv_mlp=True (1x1 conv MLP); the official code with Linear.
        conv_mlp = not case.endswith("_official")
        return "convnext_v2_atto", ConvNeXtV2([2, 2, 6, 2], [40, 80, 160, 320], CLASSES, conv_mlp)
    if case.startswith("convnext_v2_tiny"):
        return "convnext_v2_tiny", ConvNeXtV2([3, 3, 9, 3], [96, 192, 384, 768], CLASSES)
    raise SystemExit(f"unknown case {case}")


def main():
    out_dir, cases = sys.argv[1], sys.argv[2:]
    for case in cases:
        gen = torch.Generator().manual_seed(sum(map(ord, case)))
        arch, model = build(case, gen)
        size = SIZES.get(case, SIZE)
        randomize(model, gen, size)
        x = torch.randn(BATCH, 3, size, size, generator=gen)
        with torch.no_grad():
            logits = model(x)
        sd = model.state_dict()
        if case.endswith("_keras"):
            # keras.applications weights files hold the layers at the root; model.save puts them
            # under /model_weights: one case each.
            write_keras_h5(f"{out_dir}/{case}.h5", keras_layers(arch, sd), whole_model=arch == "resnet50")
        elif case.endswith("_timm") and arch == "mobilenet_v2":
            sd = timm_mobilenet_v2_names(sd)
        if case.endswith("_official"):
            sd = official_convnext_names(sd)
        if not case.endswith("_keras"):
            write_safetensors(f"{out_dir}/{case}.safetensors", sd)
        with open(f"{out_dir}/{case}.json", "w") as f:
            json.dump(
                {
                    "arch": arch,
                    "size": size,
                    "input": x.permute(0, 2, 3, 1).reshape(-1).tolist(),
                    "logits": logits.reshape(-1).tolist(),
                    "logitsShape": list(logits.shape),
                },
                f,
            )


if __name__ == "__main__":
    main()
