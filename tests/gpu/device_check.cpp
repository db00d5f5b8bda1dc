// The GPU path of radpipe's host, checked on a machine with a CUDA LibTorch (tests/gpu/device-check.sh),
// built from the host's own device, precision and distributed files and the torch_models networks,
// with LibTorch only (no OpenCV, no plugin loader: that machine has none of the Debian -dev packages).
//
//   device_check smoke [--cpu]      smoke tests on cuda:0 (or, with --cpu, the parts that run on a CPU)
//   device_check bench [--quick]    predict and train img/s of ResNet-18 and DenseNet-169 at 224 and 320,
//                                   batch 32, fp32 and bf16; lines "cpp MODE MODEL SIZE PRECISION IMG/S"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "networks.hpp"
#include "runtime/device.hpp"
#include "runtime/distributed.hpp"
#include "runtime/precision.hpp"

using namespace radpipe::host;
using radpipe::torch_models::Network;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  std::cout << (ok ? "PASS " : "FAIL ") << what << std::endl;
  if (!ok) ++failures;
}

// Runs one smoke test; an exception fails it without stopping the others.
void step(const std::string& name, const std::function<void()>& body) {
  try {
    body();
  } catch (const std::exception& error) {
    check(false, name + ": " + error.what());
  }
}

std::shared_ptr<Network> network(const std::string& name) {
  radpipe::torch_models::HeadOptions head;
  head.outputs = 1;
  return name == "resnet18" ? radpipe::torch_models::make_resnet(18, 3, head)
                            : radpipe::torch_models::make_densenet(169, 3, head);
}

int free_port() {
  const int socket_descriptor = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ::bind(socket_descriptor, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  ::getsockname(socket_descriptor, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(socket_descriptor);
  return ntohs(address.sin_port);
}

// A fixed batch: images and 0/1 targets, on the host in the memory radpipe assembles batches in.
std::pair<torch::Tensor, torch::Tensor> host_batch(const torch::Device& device, std::int64_t batch,
                                                   std::int64_t size) {
  torch::manual_seed(7);
  auto images = torch::empty({batch, 3, size, size}, host_batch_options(device));
  images.copy_(torch::randn({batch, 3, size, size}));
  auto targets = (torch::rand({batch}) > 0.5).to(torch::kFloat32);
  return {images, targets};
}

// `steps` optimisation steps on one fixed batch as radpipe's train step takes them: input through
// to_device, the forward pass in `precision`, float32 loss, the loss scaler for fp16. The losses.
std::vector<double> train_steps(const torch::Device& device, Precision precision, int steps) {
  auto model = network("resnet18");
  model->to(device);
  model->train();
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  std::optional<LossScaler> scaler;
  if (precision == Precision::fp16) scaler.emplace();
  const auto data = host_batch(device, 16, 64);
  const torch::Tensor &images = data.first, &targets = data.second;
  std::vector<double> losses;
  for (int i = 0; i < steps; ++i) {
    optimizer.zero_grad();
    const auto input = to_device(images, device);
    torch::Tensor logits;
    {
      const AutocastScope autocast(device, precision);
      logits = model->forward(input).logits;
    }
    const auto loss =
        torch::binary_cross_entropy_with_logits(logits.to(torch::kFloat32).reshape({-1}), targets.to(device));
    (scaler ? scaler->scaled(loss) : loss).backward();
    bool finite = true;
    if (scaler) {
      finite = scaler->unscale(model->parameters());
      scaler->update(finite);
    }
    if (finite) optimizer.step();
    losses.push_back(loss.item<double>());
  }
  return losses;
}

void smoke(const torch::Device& device) {
  std::cout << accelerator_build_summary() << "\nLibTorch sees " << torch::cuda::device_count()
            << " CUDA device(s)" << std::endl;
  if (device.is_cuda()) check(torch::cuda::is_available(), "LibTorch sees a CUDA device");

  step("pinned batch", [&] {
    const auto images = host_batch(device, 4, 32).first;
    check(images.is_pinned() == device.is_cuda(),
          "a host batch for " + device.str() + " is pinned exactly when the device is CUDA");
    const auto moved = to_device(images, device);
    check(moved.device() == device && torch::equal(moved.cpu(), images),
          "to_device copies it (non-blocking on CUDA) intact");
  });

  step("device scope", [&] {
    const DeviceScope scope(device);
    check(torch::ones({1}, device).device() == device, "a chain thread's tensors land on " + device.str());
  });

  step("autocast", [&] {
    auto weight = torch::randn({8, 3, 3, 3}, device);
    auto input = torch::randn({2, 3, 16, 16}, device);
    for (const Precision precision : {Precision::bf16, Precision::fp16}) {
      if (!precision_problem(precision, device).empty()) continue;
      torch::ScalarType inside;
      {
        const AutocastScope autocast(device, precision);
        inside = torch::conv2d(input, weight).scalar_type();
      }
      const auto wanted = precision == Precision::bf16 ? torch::kBFloat16 : torch::kHalf;
      check(inside == wanted && torch::conv2d(input, weight).scalar_type() == torch::kFloat32,
            std::string("autocast ") + precision_name(precision) + " on " + device.str() +
                " casts inside its scope only");
    }
  });

  step("predict", [&] {
    auto model = network("resnet18");
    model->to(device);
    model->eval();
    const auto images = host_batch(device, 8, 224).first;
    c10::InferenceMode inference;
    const auto full =
        torch::sigmoid(model->forward(to_device(images, device)).logits.to(torch::kFloat32)).cpu();
    for (const Precision precision : {Precision::bf16, Precision::fp16}) {
      if (!precision_problem(precision, device).empty()) continue;
      torch::Tensor reduced;
      {
        const AutocastScope autocast(device, precision);
        reduced = torch::sigmoid(model->forward(to_device(images, device)).logits.to(torch::kFloat32)).cpu();
      }
      const double largest = (reduced - full).abs().max().item<double>();
      // As tests/integration/precision_test.cpp argues for the CPU: probabilities move by < 0.02.
      check(largest < 0.02, std::string("predict in ") + precision_name(precision) +
                                " agrees with fp32 (largest difference " + std::to_string(largest) + ")");
    }
  });

  step("train", [&] {
    for (const Precision precision : {Precision::fp32, Precision::bf16, Precision::fp16}) {
      if (!precision_problem(precision, device).empty()) continue;
      const auto losses = train_steps(device, precision, 12);
      check(std::isfinite(losses.back()) && losses.back() < losses.front() * 0.8,
            std::string("12 train steps in ") + precision_name(precision) + " lower the loss: " +
                std::to_string(losses.front()) + " -> " + std::to_string(losses.back()));
    }
  });

  step("process group of one", [&] {
    GroupPlace place;
    place.master_address = "127.0.0.1";
    place.master_port = free_port();
    place.source = "device_check";
    ProcessGroup group(place, std::chrono::seconds(60), device);
    std::vector<torch::Tensor> flags{
        torch::tensor({1.0, 2.0}, torch::kFloat64)}; // CPU: through the device with NCCL
    group.all_reduce_sum(flags, "the test all-reduce");
    check(std::string(group.backend()) == (device.is_cuda() ? "NCCL" : "Gloo") &&
              flags[0][1].item<double>() == 2.0,
          std::string("a world of 1 over ") + group.backend() + " all-reduces a CPU tensor");

    // Overlapped gradient averaging in a world of one leaves the gradients as they were.
    auto model = network("resnet18");
    model->to(device);
    const auto images = host_batch(device, 4, 64).first;
    auto loss_of = [&] { return model->forward(to_device(images, device)).logits.sum(); };
    model->zero_grad();
    loss_of().backward();
    std::vector<torch::Tensor> expected;
    for (const auto& parameter : model->parameters()) expected.push_back(parameter.grad().clone());
    GradientAverager averager(group, model->parameters(), std::size_t{1} << 20, /*overlap=*/true);
    model->zero_grad();
    averager.begin(1.0, 1.0);
    loss_of().backward();
    averager.finish();
    double largest = 0;
    std::size_t index = 0;
    for (const auto& parameter : model->parameters())
      largest = std::max(largest, (parameter.grad() - expected[index++]).abs().max().item<double>());
    check(averager.buckets_started_during_backward() > 0 && largest < 1e-5,
          "overlapped all-reduce: " + std::to_string(averager.buckets_started_during_backward()) + " of " +
              std::to_string(averager.buckets()) +
              " buckets started during backward, gradients kept (largest change " + std::to_string(largest) +
              ")");
  });
}

double images_per_second(const std::function<void()>& iteration, int batch, bool cuda, int warmup,
                         int timed) {
  for (int i = 0; i < warmup; ++i) iteration();
  if (cuda) torch::cuda::synchronize();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < timed; ++i) iteration();
  if (cuda) torch::cuda::synchronize();
  return batch * timed / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void bench(const torch::Device& device, bool quick) {
  const int batch = 32, warmup = quick ? 1 : 5, timed = quick ? 2 : 20;
  for (const std::string name : {"resnet18", "densenet169"})
    for (const int size : {224, 320})
      for (const Precision precision : {Precision::fp32, Precision::bf16}) {
        auto model = network(name);
        model->to(device);
        const auto data = host_batch(device, batch, size);
        const torch::Tensor& images = data.first;
        const auto on_device = data.second.to(device);
        model->eval();
        const double predict = images_per_second(
            [&] {
              c10::InferenceMode inference;
              const AutocastScope autocast(device, precision);
              model->forward(to_device(images, device)).logits.to(torch::kFloat32).cpu();
            },
            batch, device.is_cuda(), warmup, timed);
        model->train();
        torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
        const double train = images_per_second(
            [&] {
              optimizer.zero_grad();
              torch::Tensor logits;
              {
                const AutocastScope autocast(device, precision);
                logits = model->forward(to_device(images, device)).logits;
              }
              torch::binary_cross_entropy_with_logits(logits.to(torch::kFloat32).reshape({-1}), on_device)
                  .backward();
              optimizer.step();
            },
            batch, device.is_cuda(), warmup, timed);
        std::printf("cpp predict %s %d %s %.1f\ncpp train %s %d %s %.1f\n", name.c_str(), size,
                    precision_name(precision), predict, name.c_str(), size, precision_name(precision), train);
        std::fflush(stdout);
      }
}

} // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "smoke";
  bool cpu = false, quick = false;
  for (int i = 2; i < argc; ++i) {
    cpu = cpu || std::string(argv[i]) == "--cpu";
    quick = quick || std::string(argv[i]) == "--quick";
  }
  const torch::Device device = cpu ? torch::Device(torch::kCPU) : torch::Device(torch::kCUDA, 0);
  if (!cpu && !torch::cuda::is_available()) {
    std::cerr << "device_check: LibTorch sees no CUDA device (use --cpu for the CPU parts)\n";
    return 2;
  }
  if (mode == "smoke") {
    smoke(device);
    std::cout << (failures == 0 ? "smoke: all passed" : "smoke: " + std::to_string(failures) + " FAILED")
              << std::endl;
    return failures == 0 ? 0 : 1;
  }
  if (mode == "bench") {
    bench(device, quick);
    return 0;
  }
  std::cerr << "usage: device_check smoke|bench [--cpu] [--quick]\n";
  return 2;
}
