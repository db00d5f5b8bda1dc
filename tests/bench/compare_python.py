"""radpipe against Python PyTorch (Debian's python3-torch and python3-torchvision) on the same
FracAtlas images, threads and models, in one run. Started by compare-python.sh; prints each pair
of numbers and its ratio (radpipe / Python, or as labelled).

Both sides get the same work: the same files, the same steps (grey or RGB, a stretch to SIZE x
SIZE, ImageNet normalisation), batch 16 for inference and 32 for training, 2 decode workers and 2
intra-op threads unless a line says otherwise. radpipe's speed is what it writes to run.json and
history.csv (from the first image read to the last scored, model already built); Python's runs
from creating the DataLoader iterator to the last batch, workers' start included.
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torchvision
from PIL import Image

THREADS = 2
WORKERS = 2


def parse_arguments():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", required=True, help="radpipe build folder (with -DRADPIPE_BUILD_BENCHMARKS=ON)")
    parser.add_argument("--data", required=True, help="the FracAtlas folder (labels.csv, images/)")
    parser.add_argument("--train-images", type=int, default=800, help="FracAtlas train images for the decode runs")
    parser.add_argument("--rounds", type=int, default=3, help="decode runs per figure; the median is printed")
    parser.add_argument("--target", type=float, default=4.0, help="the issue's goal: radpipe's decode rate over the DataLoader's")
    parser.add_argument("--only", default="", help="comma-separated sections: preprocess,predict,train,dicom,rss")
    return parser.parse_args()


ARGS = parse_arguments()
BUILD = os.path.abspath(ARGS.build)
RADPIPE = os.path.join(BUILD, "bin", "radpipe")
SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORK = tempfile.mkdtemp(prefix="radpipe-compare-")
torch.set_num_threads(THREADS)


def section_wanted(name):
    return not ARGS.only or name in ARGS.only.split(",")


def rows(split=None, limit=None):
    with open(os.path.join(ARGS.data, "labels.csv")) as labels:
        selected = [row for row in csv.DictReader(labels) if split is None or row["split"] == split]
    return selected[:limit] if limit else selected


def write_listing(name, selected, split_as=None):
    """A CSV for radpipe's csv reader: absolute image paths, the label, the split."""
    path = os.path.join(WORK, name + ".csv")
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["image", "fractured", "split"])
        for row in selected:
            writer.writerow([os.path.join(ARGS.data, row["image"]), row["fractured"], split_as or row["split"]])
    return path


def image_paths(selected):
    return [os.path.join(ARGS.data, row["image"]) for row in selected]


def pipeline_text(listing, preprocess, model, extra_pipeline="", train=""):
    return f"""[pipeline]
name = "compare"
batch_size = 16
workers = {WORKERS}
threads = {THREADS}
{extra_pipeline}
[reader]
stage = "csv"
file = "{listing}"
image_column = "image"
label_column = "fractured"
{preprocess}
[model]
{model}
device = "cpu"
[aggregate]
stage = "mean"
{train}"""


def preprocess_tables(channels, size, mode="stretch"):
    colour = "grayscale" if channels == "grey" else "rgb"
    return f"""[[preprocess]]
stage = "{colour}"
[[preprocess]]
stage = "resize"
size = [{size}, {size}]
mode = "{mode}"
[[preprocess]]
stage = "normalize"
preset = "imagenet"
"""


def run_radpipe_predict(name, text, limit=None, extra=()):
    pipeline = os.path.join(WORK, name + ".toml")
    with open(pipeline, "w") as out:
        out.write(text)
    out_dir = os.path.join(WORK, name)
    command = [RADPIPE, "-q", "predict", pipeline, "--out", out_dir] + (["--limit", str(limit)] if limit else []) + list(extra)
    subprocess.run(command, check=True)
    with open(os.path.join(out_dir, "run.json")) as summary:
        return json.load(summary)["images_per_second"]


def show_pair(label, first_name, first, second_name, second, unit="img/s", ratio=None):
    if ratio is None:
        ratio = first / second if second else float("nan")
    print(f"{label:<62} {first_name:>7} {first:8.1f} {unit} | {second_name:>7} {second:8.1f} {unit} | ratio {ratio:5.2f}", flush=True)


def show(label, radpipe_value, python_value):
    show_pair(label, "radpipe", radpipe_value, "Python", python_value)


# ---------------------------------------------------------------------------------- Python side

class Images(torch.utils.data.Dataset):
    """PIL decode, grey or RGB, stretch to size, ToTensor, ImageNet normalisation. `draft` lets
    PIL's libjpeg decode at the largest 1/2, 1/4 or 1/8 scale that still reaches the size."""

    def __init__(self, paths, labels, channels, size, reduced=False):
        self.paths, self.labels, self.size, self.reduced = paths, labels, size, reduced
        self.mode = "L" if channels == "grey" else "RGB"
        mean, std = ([0.449], [0.226]) if channels == "grey" else ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
        self.normalize = torchvision.transforms.Normalize(mean, std)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        image = Image.open(self.paths[index])
        if self.reduced:
            image.draft(self.mode, (self.size, self.size))
        image = image.convert(self.mode).resize((self.size, self.size), Image.BILINEAR)
        tensor = torchvision.transforms.functional.to_tensor(image)
        return self.normalize(tensor), torch.tensor(float(self.labels[index]))


def loader(selected, channels, size, batch, reduced=False, shuffle=False):
    dataset = Images(image_paths(selected), [row["fractured"] for row in selected], channels, size, reduced)
    return torch.utils.data.DataLoader(dataset, batch_size=batch, num_workers=WORKERS, shuffle=shuffle,
                                       persistent_workers=False)


def python_decode_rate(selected, channels, size, reduced):
    start = time.perf_counter()
    count = sum(images.shape[0] for images, _ in loader(selected, channels, size, 16, reduced))
    return count / (time.perf_counter() - start)


def python_predict_rate(selected, network, size):
    model = network.eval()
    start = time.perf_counter()
    count = 0
    with torch.no_grad():
        for images, _ in loader(selected, "rgb", size, 16):
            torch.sigmoid(model(images))
            count += images.shape[0]
    return count / (time.perf_counter() - start)


class DemoCnn(torch.nn.Module):
    """radpipe's `cnn` stage: blocks of conv3x3 (no bias), BatchNorm, ReLU, 2x2 max pooling, the
    width doubling per block; global average pooling; dropout and one linear layer."""

    def __init__(self, blocks=5, width=16, channels=1, dropout=0.3):
        super().__init__()
        layers, in_channels = [], channels
        for _ in range(blocks):
            layers += [torch.nn.Conv2d(in_channels, width, 3, padding=1, bias=False), torch.nn.BatchNorm2d(width),
                       torch.nn.ReLU(inplace=True), torch.nn.MaxPool2d(2)]
            in_channels, width = width, min(width * 2, 512)
        self.features = torch.nn.Sequential(*layers)
        self.classifier = torch.nn.Sequential(torch.nn.Dropout(dropout), torch.nn.Linear(in_channels, 1))

    def forward(self, x):
        return self.classifier(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))


def python_train_rate(selected, model, size):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    positives = sum(int(row["fractured"]) for row in selected)
    negatives = len(selected) - positives
    weight_positive, weight_negative = negatives / len(selected), positives / len(selected)  # class_weights = "global"
    model.train()
    start = time.perf_counter()
    count = 0
    for images, labels in loader(selected, "grey", size, 32, shuffle=True):
        optimizer.zero_grad()
        logits = model(images).reshape(-1)
        weights = labels * weight_positive + (1 - labels) * weight_negative
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, weights)
        loss.backward()
        optimizer.step()
        count += images.shape[0]
    return count / (time.perf_counter() - start)


# ------------------------------------------------------------------------------------- sections

def trivial_model():
    """A TorchScript model that costs nothing, so that predict measures decoding and preprocessing."""
    class Mean(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=[1, 2, 3]).unsqueeze(1)

    path = os.path.join(WORK, "trivial.pt")
    torch.jit.script(Mean()).save(path)
    return f'stage = "torchscript"\nfile = "{path}"\ninput_channels = 1'


def bare_loop_rate(paths_file, size, reduced, processes=1):
    """Img/s of the bare OpenCV loop, or the sum of `processes` of them started together, one
    image list each: what the machine's cores give to decoding when nothing else runs, the
    ceiling of any decoder pool on it."""
    command = [os.path.join(BUILD, "tests", "bench", "bench_opencv_loop"), paths_file, str(size), "reduced" if reduced else "full"]
    started = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    rates = []
    for process in started:
        output = process.communicate()[0]
        if process.returncode != 0:
            raise subprocess.CalledProcessError(process.returncode, command)
        rates.append(float(output.split()[0]))
    return sum(rates)


def paired(rounds, first, second):
    """Medians of `rounds` alternated measurements of two commands, and the median of their ratios
    round by round. A run of 800 small images lasts about a second, and this VM's speed drifts by
    20-30% within minutes, so a ratio is taken between runs seconds apart, not between two medians
    taken a minute apart."""
    pairs = [(first(), second()) for _ in range(rounds)]
    return (statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs),
            statistics.median(a / b for a, b in pairs))


def preprocess_section():
    print(f"== decode + preprocess (grey, stretch to SIZE, normalize), {ARGS.train_images} FracAtlas train images; "
          f"medians of {ARGS.rounds} alternated rounds; a ratio is the median of the rounds' own ratios", flush=True)
    selected = rows("train", ARGS.train_images)
    listing = write_listing("train", selected)
    paths_file = os.path.join(WORK, "paths.txt")
    with open(paths_file, "w") as out:
        out.write("\n".join(image_paths(selected)) + "\n")
    model = trivial_model()
    for size in (320, 128):
        preprocess = preprocess_tables("grey", size)
        text = pipeline_text(listing, preprocess, model)
        hinted_run = lambda: run_radpipe_predict(f"decode{size}", text)
        hinted, full, hints_ratio = paired(ARGS.rounds, hinted_run, lambda: run_radpipe_predict(
            f"decode{size}-full", pipeline_text(listing, preprocess, model, "decode_hints = false")))
        _, every_batch, commit_ratio = paired(ARGS.rounds, hinted_run, lambda: run_radpipe_predict(
            f"decode{size}-every-batch", text, extra=["--commit-seconds", "0"]))
        python_full = python_decode_rate(selected, "grey", size, reduced=False)
        python_reduced = python_decode_rate(selected, "grey", size, reduced=True)
        _, ceiling, ceiling_ratio = paired(ARGS.rounds, hinted_run,
                                           lambda: bare_loop_rate(paths_file, size, reduced=False, processes=WORKERS))
        show(f"{size}: radpipe (hints) vs DataLoader {WORKERS} workers", hinted, python_full)
        show(f"{size}: radpipe (hints) vs DataLoader + PIL draft (reduced)", hinted, python_reduced)
        show_pair(f"{size}: radpipe hints on vs off", "on ", hinted, "off", full, "img/s", hints_ratio)
        show_pair(f"{size}: radpipe commits once a second vs every batch (16)", "1 s", hinted, "batch", every_batch,
                  "img/s", commit_ratio)
        show_pair(f"{size}: {WORKERS} bare loops as {WORKERS} processes vs {ARGS.target}x DataLoader",
                  "loops", ceiling, "target", ARGS.target * python_full, "img/s")
        show_pair(f"{size}: radpipe {WORKERS} workers vs {WORKERS} bare loop processes", "radpipe", hinted, "loops", ceiling,
                  "img/s", ceiling_ratio)
        one = text.replace(f"workers = {WORKERS}", "workers = 1").replace(f"threads = {THREADS}", "threads = 1")
        loop_full_run = lambda: bare_loop_rate(paths_file, size, reduced=False)
        per_thread, loop_full, per_thread_ratio = paired(
            ARGS.rounds, lambda: run_radpipe_predict(f"decode{size}-1", one), loop_full_run)
        per_thread_full, _, per_thread_full_ratio = paired(ARGS.rounds, lambda: run_radpipe_predict(
            f"decode{size}-1-full", one.replace("[pipeline]", "[pipeline]\ndecode_hints = false")), loop_full_run)
        loop_reduced, _, reduced_ratio = paired(ARGS.rounds, lambda: bare_loop_rate(paths_file, size, reduced=True),
                                                loop_full_run)
        # The bare loop reads grey at full size. radpipe's hint asks for a decode of at
        # least twice SIZE (the accuracy rule in resize.cpp); on FracAtlas' 373x454 JPEGs that is
        # the full size at 128 and 320 alike, so the first pair does the same work on both sides.
        show_pair(f"{size}: 1 thread: radpipe (hints) vs bare loop (grey, full size)", "radpipe", per_thread, "loop", loop_full,
                  "img/s", per_thread_ratio)
        show_pair(f"{size}: 1 thread: radpipe without hints (colour, then grey) vs loop", "radpipe", per_thread_full, "loop",
                  loop_full, "img/s", per_thread_full_ratio)
        show_pair(f"{size}: 1 thread: bare loop at the reduced scale covering SIZE vs full", "reduced", loop_reduced, "full",
                  loop_full, "img/s", reduced_ratio)


def predict_section():
    print("== end to end predict: decode, RGB, stretch, normalize, forward (random weights), batch 16", flush=True)
    for name, depth, constructor, limit in (("resnet", 18, torchvision.models.resnet18, 256),
                                            ("densenet", 121, torchvision.models.densenet121, 128)):
        selected = rows("train", limit)
        listing = write_listing(f"predict-{name}", selected)
        for size in (224, 320):
            model = f'stage = "{name}"\ndepth = {depth}\ninput_channels = 3'
            text = pipeline_text(listing, preprocess_tables("rgb", size), model)
            optimized = run_radpipe_predict(f"predict-{name}{depth}-{size}", text)
            eager = run_radpipe_predict(f"predict-{name}{depth}-{size}-eager", text.replace("[pipeline]", "[pipeline]\noptimize = false"))
            python = python_predict_rate(selected, constructor(num_classes=1), size)
            show(f"{name}-{depth} at {size}, {limit} images", optimized, python)
            show_pair(f"{name}-{depth} at {size}: radpipe optimized vs eager", "opt", optimized, "eager", eager, "img/s")


def history_rate(out_dir):
    with open(os.path.join(out_dir, "history.csv")) as history:
        return float(list(csv.DictReader(history))[-1]["images_per_second"])


def train_section():
    print("== training, one epoch (grey, stretch to 128, normalize; Adam; batch 32; no augmentation)", flush=True)
    for name, model, limit, python_model in (
            ("demo CNN", 'stage = "cnn"\nblocks = 5\nwidth = 16\ninput_channels = 1\ndropout = 0.3', 800, lambda: DemoCnn()),
            ("ResNet-18", 'stage = "resnet"\ndepth = 18\ninput_channels = 1', 320, None)):
        selected = rows("train", limit)
        # radpipe validates on a valid split after the epoch; its rate counts the training pass only.
        listing = write_listing(f"train-{limit}", selected + rows("valid", 16))
        out_dir = os.path.join(WORK, f"train-{limit}")
        train = f"""[train]
epochs = 1
batch_size = 32
optimizer = "adam"
learning_rate = 1e-3
weight_decay = 1e-4
class_weights = "global"
output = "{out_dir}"
keep_best = 1
"""
        pipeline = os.path.join(WORK, f"train-{limit}.toml")
        with open(pipeline, "w") as out:
            out.write(pipeline_text(listing, preprocess_tables("grey", 128), model, train=train))
        subprocess.run([RADPIPE, "-q", "train", pipeline], check=True)
        ours = history_rate(out_dir)
        if python_model is None:
            network = torchvision.models.resnet18(num_classes=1)
            network.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)
        else:
            network = python_model()
        theirs = python_train_rate(selected, network, 128)
        show(f"train {name} at 128, {limit} images", ours, theirs)


def dicom_section():
    print("== DICOM through the reader against in-process decoding (bench_dicom_decode_overhead)", flush=True)
    bench = os.path.join(BUILD, "tests", "bench_dicom_decode_overhead")
    if not os.path.exists(bench):
        print(f"   {bench} is not built (configure with -DRADPIPE_BUILD_BENCHMARKS=ON)")
        return
    # 30 repeats: with 10, the ratios moved by 0.3 from one run to the next on this 2-core machine.
    sys.stdout.write(subprocess.run([bench, "30"], check=True, capture_output=True, text=True).stdout)


def peak_rss_kib(command):
    result = subprocess.run(["/usr/bin/time", "-f", "%M"] + command, check=True, capture_output=True, text=True)
    return int(result.stderr.strip().splitlines()[-1])


def rss_section():
    print("== peak RSS of predict with the demo model (grey, 128, CNN), 300 against 3,000 images", flush=True)
    listing = write_listing("all", rows())
    model = f'stage = "cnn"\nblocks = 5\nwidth = 16\ninput_channels = 1\ndropout = 0.3\nweights = "{SOURCE}/samples/models/fracatlas-cnn5.pt"'
    pipeline = os.path.join(WORK, "rss.toml")
    with open(pipeline, "w") as out:
        out.write(pipeline_text(listing, preprocess_tables("grey", 128, "pad"), model))
    small = peak_rss_kib([RADPIPE, "-q", "predict", pipeline, "--out", os.path.join(WORK, "rss300"), "--limit", "300"])
    large = peak_rss_kib([RADPIPE, "-q", "predict", pipeline, "--out", os.path.join(WORK, "rss3000"), "--limit", "3000"])
    show_pair("peak RSS, predict 3,000 vs 300 images", "3000", large / 1024, "300", small / 1024, "MiB")


def main():
    load = os.getloadavg()
    print(f"radpipe {RADPIPE}; torch {torch.__version__}, torchvision {torchvision.__version__}; "
          f"{THREADS} threads, {WORKERS} workers; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} cores",
          flush=True)
    for name, section in (("preprocess", preprocess_section), ("predict", predict_section), ("train", train_section),
                          ("dicom", dicom_section), ("rss", rss_section)):
        if section_wanted(name):
            started = time.perf_counter()
            section()
            print(f"   ({name}: {time.perf_counter() - started:.0f} s)", flush=True)
    load = os.getloadavg()
    print(f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


main()
