#!/usr/bin/env python3
"""Writes the committed fixtures of the torch_models tests, with Python's torch and torchvision.

A developer tool only: the tests read the files this writes and never run Python. Needs
python3-torch and python3-torchvision (Debian bookworm: torch 1.13, torchvision 0.14):

    apt-get install python3-torch python3-torchvision
    /usr/bin/python3 plugins/torch_models/tests/data/make_fixtures.py

It prints the checksums that test_torch_models.cpp records; rerunning it gives the same files
and numbers (everything is seeded).

Files:
  resnet18_subset.pth        torch.save(state_dict) of a subset of torchvision's resnet18: an
                             OrderedDict with `_metadata`, exactly as model.state_dict() pickles,
                             including fc.bias of the 1000-class ImageNet head (shape mismatch).
  checkpoint_dataparallel.pth  a training checkpoint dict {"epoch", "step", "optimizer", ...,
                             "state_dict"} whose state_dict has DataParallel's `module.` prefix.
  tiny_script.pt             torch.jit.script of a tiny CNN returning (logits, feature map).
  torchvision_layouts.txt    "model name shape" of every state_dict entry of torchvision's
                             resnet18, resnet50 and densenet121, and the parameter counts of all six.
"""
import collections
import os

import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))


def checksum(tensor):
    """Sum and position-weighted sum (catches permutations), in float64."""
    flat = tensor.detach().double().flatten()
    weights = torch.arange(1, flat.numel() + 1, dtype=torch.float64)
    return float(flat.sum()), float((flat * weights).sum())


def resnet_subset():
    torch.manual_seed(0)
    full = torchvision.models.resnet18().state_dict()
    keys = [k for k in full if k.startswith("conv1.") or k.startswith("bn1.") or k.startswith("layer4.1.bn2.")]
    keys.append("fc.bias")  # [1000]: the ImageNet head does not fit a binary model
    subset = collections.OrderedDict((k, full[k].clone()) for k in keys)
    # Fresh BatchNorm statistics are 0 and 1: make them tell apart from a model's own.
    generator = torch.Generator().manual_seed(1)
    for k, v in subset.items():
        if v.dtype == torch.float32 and not k.startswith("conv1"):
            subset[k] = torch.rand(v.shape, generator=generator) + 0.5
        if k.endswith("num_batches_tracked"):
            subset[k] = torch.tensor(1234)
    subset._metadata = full._metadata  # what state_dict() attaches; pickled through BUILD
    return subset


def main():
    subset = resnet_subset()
    torch.save(subset, os.path.join(HERE, "resnet18_subset.pth"))
    print("resnet18_subset.pth:", len(subset), "tensors")
    for name in ("conv1.weight", "bn1.running_var", "layer4.1.bn2.weight"):
        print(f"  {name} {list(subset[name].shape)} sum, weighted sum = %.9g, %.9g" % checksum(subset[name]))
    print("  conv1.weight summed over input channels: sum, weighted sum = %.9g, %.9g"
          % checksum(subset["conv1.weight"].sum(1, keepdim=True)))

    nested = collections.OrderedDict(("module." + k, v) for k, v in subset.items() if not k.startswith("fc."))
    nested._metadata = collections.OrderedDict(("module." + k if k else "module", v) for k, v in subset._metadata.items())
    # Besides the weights, what training loops store: one-item lists and dicts (APPEND, SETITEM)
    # and integers past 32 bits (a 5-byte LONG1), which LibTorch's unpickler does not read as is.
    checkpoint = {"epoch": 7, "best_auc": 0.8125, "arch": "resnet18", "step": 3_000_000_000, "history": [0.5],
                  "optimizer": {"state": {}, "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "params": [0]}]},
                  "state_dict": nested}
    torch.save(checkpoint, os.path.join(HERE, "checkpoint_dataparallel.pth"))
    print("checkpoint_dataparallel.pth:", len(nested), "tensors")

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.fc = torch.nn.Linear(4, 2)

        def forward(self, x):
            features = torch.relu(self.conv(x))
            logits = self.fc(features.mean(dim=(2, 3)))
            return logits, features

    torch.manual_seed(2)
    tiny = torch.jit.script(Tiny().eval())
    tiny.save(os.path.join(HERE, "tiny_script.pt"))
    probe = torch.linspace(-1, 1, 3 * 8 * 8).reshape(1, 3, 8, 8)
    with torch.no_grad():
        logits, features = tiny(probe)
    print("tiny_script.pt: logits for linspace(-1, 1, 192).reshape(1, 3, 8, 8) =",
          ", ".join("%.9g" % v for v in logits.flatten().tolist()), "; features", list(features.shape))

    lines = []
    for name in ("resnet18", "resnet50", "densenet121"):
        model = getattr(torchvision.models, name)()
        for key, value in model.state_dict().items():
            lines.append(f"{name} {key} {'x'.join(str(s) for s in value.shape) or 'scalar'}")
    for name in ("resnet18", "resnet34", "resnet50", "densenet121", "densenet169", "densenet201"):
        model = getattr(torchvision.models, name)()
        lines.append(f"parameters {name} {sum(p.numel() for p in model.parameters())}")
    with open(os.path.join(HERE, "torchvision_layouts.txt"), "w") as out:
        out.write("# written by make_fixtures.py from torchvision " + torchvision.__version__ + "\n")
        out.write("\n".join(lines) + "\n")
    print("torchvision_layouts.txt:", len(lines), "lines")


if __name__ == "__main__":
    main()
