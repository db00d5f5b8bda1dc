"""The Python PyTorch side of tests/gpu/device-check.sh: the loops of device_check.cpp's bench with
torchvision's ResNet-18 and DenseNet-169 (the networks radpipe's torch_models mirror), batch 32,
input from pinned host memory each iteration, fp32 and bf16 autocast, cuDNN's defaults as in LibTorch.
Prints lines "py MODE MODEL SIZE PRECISION IMG/S"."""
import sys
import time

import torch
import torchvision


def images_per_second(iteration, batch, warmup, timed):
    for _ in range(warmup):
        iteration()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(timed):
        iteration()
    torch.cuda.synchronize()
    return batch * timed / (time.perf_counter() - start)


def main():
    quick = "--quick" in sys.argv
    device = torch.device("cuda", 0)
    batch, warmup, timed = 32, (1 if quick else 5), (2 if quick else 20)
    for name in ("resnet18", "densenet169"):
        for size in (224, 320):
            for precision in ("fp32", "bf16"):
                torch.manual_seed(7)
                model = getattr(torchvision.models, name)(num_classes=1).to(device)
                images = torch.randn(batch, 3, size, size).pin_memory()
                targets = (torch.rand(batch) > 0.5).float().to(device)
                enabled = precision == "bf16"
                model.eval()

                def predict():
                    with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16, enabled=enabled):
                        model(images.to(device, non_blocking=True)).float().cpu()

                predicted = images_per_second(predict, batch, warmup, timed)
                model.train()
                optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

                def train():
                    optimizer.zero_grad()
                    with torch.autocast("cuda", torch.bfloat16, enabled=enabled):
                        logits = model(images.to(device, non_blocking=True))
                    torch.nn.functional.binary_cross_entropy_with_logits(logits.float().reshape(-1), targets).backward()
                    optimizer.step()

                trained = images_per_second(train, batch, warmup, timed)
                print(f"py predict {name} {size} {precision} {predicted:.1f}\npy train {name} {size} {precision} {trained:.1f}", flush=True)


if __name__ == "__main__":
    main()
