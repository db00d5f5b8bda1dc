// The one batching helper: takes samples already routed to their chains, runs each chain's own
// preprocessing, batches them to the chain's batch size and hands each batch to a work function
// (score, explain, or a training step). Predict, evaluate, explain and train all use it.
//
// Concurrent mode (inference): every chain has its own thread and queue, so a slow chain does not
// hold up the others. Outcomes come back in push order through a reorder window of `window`
// samples: push() blocks, delivering finished outcomes to the sink, while `window` samples are
// pushed but not yet delivered; a chain holding the oldest of them is then asked to run its
// partial batch. Memory in flight is bounded by `window` samples plus one batch per chain.
// Inline mode (training): batches run on the caller's thread as they fill, in a fixed order, so
// that a seeded run is reproducible.
#pragma once

#include "loader/plugin_host.hpp"
#include "runtime/device.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/sample_stream.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace radpipe::host {

// What routing decided about a sample, carried along to its outcome.
struct RouteNote {
  std::string value;       // the router's value (a body part, a class name); empty without router
  double confidence = 1.0; // the router's confidence
};

template <class Result>
struct ChainOutcome {
  std::optional<Result> result;      // empty when the sample was skipped
  std::optional<SkippedSample> skip; // why, when it was
  RouteNote route;
  Chain* chain = nullptr;
};

struct ChainRunnerOptions {
  bool concurrent = true;
  bool ordered = true;         // concurrent mode: deliver in push order (else as finished)
  std::size_t window = 256;    // concurrent mode: samples pushed but not yet delivered, at most (see window_for)
  TransformContext transform;  // for the chains' own steps
};

// A reorder window that lets every chain fill several batches before the oldest sample is due.
std::size_t window_for(const std::vector<Chain>& chains);

template <class Result>
class ChainRunner {
public:
  // Runs one chain's batch; returns one result per sample, in batch order.
  using Work = std::function<std::vector<Result>(Chain&, std::vector<Sample>&)>;
  using Sink = std::function<void(ChainOutcome<Result>&&)>;

  ChainRunner(std::vector<Chain>& chains, Work work, Sink sink, ChainRunnerOptions options)
      : work_(std::move(work)), sink_(std::move(sink)), options_(options) {
    for (auto& chain : chains) lanes_.emplace(&chain, std::make_unique<Lane>());
    if (options_.concurrent)
      for (auto& [chain, lane] : lanes_) lane->thread = std::jthread([this, chain = chain, lane = lane.get()] { run_lane(*chain, *lane); });
  }

  ~ChainRunner() { stop(); }
  ChainRunner(const ChainRunner&) = delete;
  ChainRunner& operator=(const ChainRunner&) = delete;

  // Hands a sample to `chain`. May deliver earlier outcomes to the sink (on this thread) first.
  void push(Sample sample, Chain& chain, RouteNote route = {}) {
    const std::uint64_t order = pushed_++;
    if (!options_.concurrent) {
      Lane& lane = *lanes_.at(&chain);
      lane.notes.push_back({order, std::move(route)});
      if (auto prepared = prepare(chain, std::move(sample))) lane.batch.push_back(std::move(*prepared.sample));
      else deliver_now(chain, order, lane, std::move(*prepared.skip));
      if (lane.batch.size() >= chain.batch_size) run_inline(chain, lane);
      return;
    }
    std::unique_lock lock(mutex_);
    while (!fatal_ && order - delivered_ >= options_.window) {
      request_flush_locked();
      if (!deliver_ready_locked(lock)) changed_.wait(lock);
    }
    rethrow_locked();
    lanes_.at(&chain)->queue.push_back({order, std::move(sample), std::move(route)});
    changed_.notify_all();
    deliver_ready_locked(lock);
  }

  // Runs every partial batch and delivers every outcome. Rethrows the first fatal error.
  void finish() {
    if (!options_.concurrent) {
      for (auto& [chain, lane] : lanes_)
        if (!lane->batch.empty()) run_inline(*chain, *lane);
      return;
    }
    std::unique_lock lock(mutex_);
    closed_ = true;
    changed_.notify_all();
    while (delivered_ < pushed_ && !fatal_) {
      if (!deliver_ready_locked(lock)) changed_.wait(lock);
    }
    rethrow_locked();
  }

  std::uint64_t delivered() const { return delivered_; }

private:
  struct Item {
    std::uint64_t order;
    Sample sample;
    RouteNote route;
  };
  struct Lane {
    std::deque<Item> queue;                                 // concurrent: waiting for the chain's thread
    bool flush = false;                                     // concurrent: run a partial batch now
    std::vector<Sample> batch;                              // inline: the batch being filled
    std::vector<std::pair<std::uint64_t, RouteNote>> notes; // inline: order and route of each pushed sample
    std::jthread thread;
  };
  struct Prepared {
    std::optional<Sample> sample;
    std::optional<SkippedSample> skip;
    explicit operator bool() const { return sample.has_value(); }
  };

  // The chain's own preprocessing; a sample it cannot process is skipped, as in SampleStream.
  Prepared prepare(Chain& chain, Sample sample) const {
    const std::string path = sample.info.path;
    const StageEntry* stage = nullptr;
    try {
      for (const auto& transform : chain.transforms) {
        if (transform.stage->is_random() && options_.transform.mode != RunMode::Train) continue;
        stage = &transform.entry;
        transform.stage->apply(sample, options_.transform);
      }
      return {std::move(sample), std::nullopt};
    } catch (...) {
      if (stage == nullptr) throw;
      SkippedSample skip = sample_failure(*stage, path);
      skip.reason = "chain " + chain.name + ": " + skip.reason;
      return {std::nullopt, std::move(skip)};
    }
  }

  void deliver_now(Chain& chain, std::uint64_t order, Lane& lane, SkippedSample skip) {
    auto found = std::find_if(lane.notes.begin(), lane.notes.end(), [&](const auto& note) { return note.first == order; });
    ChainOutcome<Result> outcome{std::nullopt, std::move(skip), std::move(found->second), &chain};
    lane.notes.erase(found);
    ++delivered_;
    sink_(std::move(outcome));
  }

  void run_inline(Chain& chain, Lane& lane) {
    const DeviceScope device(chain.device);
    std::vector<Result> results = work_(chain, lane.batch);
    if (results.size() != lane.batch.size()) throw std::logic_error("a chain's work returned a result count unlike its batch size");
    for (std::size_t i = 0; i < results.size(); ++i) {
      ++delivered_;
      sink_(ChainOutcome<Result>{std::move(results[i]), std::nullopt, std::move(lane.notes[i].second), &chain});
    }
    lane.batch.clear();
    lane.notes.clear();
  }

  // Chain thread: takes up to a batch from its queue, runs it, files the outcomes by push order.
  // On a CUDA chain the thread makes the chain's GPU its current device, so that chains on
  // different GPUs run side by side, each on its own.
  void run_lane(Chain& chain, Lane& lane) {
    const DeviceScope device(chain.device);
    while (true) {
      std::vector<Item> items;
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] {
          return stopping_ || fatal_ || lane.queue.size() >= chain.batch_size || ((lane.flush || closed_) && !lane.queue.empty()) ||
                 (closed_ && lane.queue.empty());
        });
        if (stopping_ || fatal_ || (closed_ && lane.queue.empty())) return;
        const std::size_t count = std::min(chain.batch_size, lane.queue.size());
        for (std::size_t i = 0; i < count; ++i) {
          items.push_back(std::move(lane.queue.front()));
          lane.queue.pop_front();
        }
        lane.flush = false;
      }
      try {
        std::map<std::uint64_t, ChainOutcome<Result>> done;
        std::vector<Sample> batch;
        std::vector<std::size_t> in_batch; // item positions of the batch's samples
        for (std::size_t i = 0; i < items.size(); ++i) {
          if (auto prepared = prepare(chain, std::move(items[i].sample))) {
            batch.push_back(std::move(*prepared.sample));
            in_batch.push_back(i);
          } else {
            done.emplace(items[i].order, ChainOutcome<Result>{std::nullopt, std::move(prepared.skip), std::move(items[i].route), &chain});
          }
        }
        if (!batch.empty()) {
          std::vector<Result> results = work_(chain, batch);
          if (results.size() != in_batch.size()) throw std::logic_error("a chain's work returned a result count unlike its batch size");
          for (std::size_t j = 0; j < results.size(); ++j) {
            Item& item = items[in_batch[j]];
            done.emplace(item.order, ChainOutcome<Result>{std::move(results[j]), std::nullopt, std::move(item.route), &chain});
          }
        }
        std::lock_guard lock(mutex_);
        for (auto& [order, outcome] : done) finished_.emplace(order, std::move(outcome));
      } catch (...) {
        std::lock_guard lock(mutex_);
        if (!fatal_) fatal_ = std::current_exception();
      }
      changed_.notify_all();
    }
  }

  // Delivers the outcomes that are next in order (or any, unordered); false when none was ready.
  // The sink runs without the lock, so that chain threads go on meanwhile.
  bool deliver_ready_locked(std::unique_lock<std::mutex>& lock) {
    bool any = false;
    while (!fatal_) {
      auto found = options_.ordered ? finished_.find(delivered_) : finished_.begin();
      if (found == finished_.end()) break;
      ChainOutcome<Result> outcome = std::move(found->second);
      finished_.erase(found);
      ++delivered_;
      any = true;
      lock.unlock();
      try {
        sink_(std::move(outcome));
      } catch (...) {
        lock.lock();
        if (!fatal_) fatal_ = std::current_exception();
        changed_.notify_all();
        break;
      }
      lock.lock();
      changed_.notify_all();
    }
    return any;
  }

  // The window is full: the chains holding samples run their partial batches.
  void request_flush_locked() {
    for (auto& [chain, lane] : lanes_)
      if (!lane->queue.empty()) lane->flush = true;
    changed_.notify_all();
  }

  void rethrow_locked() {
    if (fatal_) {
      auto error = fatal_;
      stopping_ = true;
      changed_.notify_all();
      std::rethrow_exception(error);
    }
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    for (auto& [chain, lane] : lanes_)
      if (lane->thread.joinable()) lane->thread.join();
  }

  Work work_;
  Sink sink_;
  ChainRunnerOptions options_;
  std::map<Chain*, std::unique_ptr<Lane>> lanes_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::uint64_t, ChainOutcome<Result>> finished_;
  std::uint64_t pushed_ = 0;
  std::uint64_t delivered_ = 0;
  bool closed_ = false;
  bool stopping_ = false;
  std::exception_ptr fatal_;
};

} // namespace radpipe::host
