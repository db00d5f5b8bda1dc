// Distributed training (docs/distributed.md) through the real binary: ranks on localhost over
// Gloo, started by `--nproc` or with torchrun's environment; equivalence with one process of the
// global batch, a rank that dies or hangs, and resume after a kill.
#include "runtime/distributed.hpp"

#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>

namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& file) {
  std::ifstream stream(file, std::ios::binary);
  std::ostringstream text;
  text << stream.rdbuf();
  return text.str();
}

// Every tensor of an archive, nested ones (a module's children) named PARENT.KEY.
void collect_tensors(torch::serialize::InputArchive& archive, const std::string& prefix,
                     std::map<std::string, torch::Tensor>& tensors) {
  for (const auto& key : archive.keys()) {
    torch::Tensor value;
    torch::serialize::InputArchive nested;
    if (archive.try_read(key, value))
      tensors[prefix + key] = value;
    else if (archive.try_read(key, nested))
      collect_tensors(nested, prefix + key + ".", tensors);
  }
}

std::map<std::string, torch::Tensor> read_weights(const fs::path& file) {
  torch::serialize::InputArchive archive;
  archive.load_from(file.string());
  std::map<std::string, torch::Tensor> tensors;
  collect_tensors(archive, "", tensors);
  return tensors;
}

// The largest absolute difference between two weight files with the same tensors.
double largest_difference(const fs::path& a, const fs::path& b) {
  const auto first = read_weights(a), second = read_weights(b);
  EXPECT_EQ(first.size(), second.size());
  EXPECT_FALSE(first.empty());
  double largest = 0;
  for (const auto& [key, value] : first) {
    EXPECT_TRUE(second.contains(key)) << key;
    if (second.contains(key))
      largest = std::max(largest, (value - second.at(key)).abs().max().item<double>());
  }
  return largest;
}

class DistributedTest : public testing::Test {
 protected:
  void SetUp() override {
    folder_ = fs::temp_directory_path() / ("radpipe-distributed-" + std::to_string(::getpid()) + "-" +
                                           testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(folder_);
    fs::create_directories(folder_);
  }
  void TearDown() override { fs::remove_all(folder_); }

  // Tiny FracAtlas training without random transforms. `linear`: the test plugin's model without
  // BatchNorm or dropout; otherwise the cnn, with dropout and a random flip (generator states).
  fs::path write_pipeline(const std::string& name, int batch_size, bool linear, int limit = 32,
                          const std::string& train_extra = "") {
    const fs::path file = folder_ / (name + ".toml");
    std::ofstream out(file);
    out << "[pipeline]\nname = \"" << name << "\"\nseed = 11\nbatch_size = " << batch_size
        << "\nworkers = 1\nthreads = 1\n"
        << "[reader]\nstage = \"csv\"\nfile = \"" << RADPIPE_SHARED_DIR << "/data/fracatlas/labels.csv\"\n"
        << "label_column = \"fractured\"\nbody_part_column = \"body_part\"\n"
        << "[[preprocess]]\nstage = \"grayscale\"\n[[preprocess]]\nstage = \"resize\"\nsize = [16, 16]\n"
        << (linear ? "" : "[[preprocess]]\nstage = \"random_flip\"\n")
        << "[[preprocess]]\nstage = \"normalize\"\n"
        << (linear ? "[model]\nstage = \"test_linear\"\nsize = 16\n"
                   : "[model]\nstage = \"cnn\"\nblocks = 2\nwidth = 4\ndropout = 0.3\n")
        << "device = \"cpu\"\n[aggregate]\nstage = \"mean\"\n"
        << "[train]\nepochs = 2\noptimizer = \"sgd\"\nlearning_rate = 0.02\nmomentum = 0.9\nscheduler = "
           "\"none\"\nkeep_best = 1\nlimit = "
        << limit << "\n"
        << train_extra;
    return file;
  }

  // Runs radpipe (through the shell) with the test plugin's folder; returns its exit code.
  int radpipe(const std::string& arguments, const std::string& environment = "",
              const std::string& log = "log.txt") {
    const std::string command = environment + " timeout 120 " + RADPIPE_EXECUTABLE +
                                " --threads 1 --plugin-path " + RADPIPE_TEST_PLUGIN_DIR + " " + arguments +
                                " >>" + (folder_ / log).string() + " 2>&1";
    const int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // Two ranks started as torchrun starts them (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), each
  // with its own log; their exit codes. Rank 1 runs in the background and is ended 3 s after rank
  // 0 ends (a hung rank never ends by itself).
  // With `slurm`, the ranks see Slurm's variables instead (srun's, on a node named localhost).
  std::pair<int, int> run_two_ranks(const std::string& arguments, const std::string& rank1_environment, int port,
                                    bool slurm = false) {
    const std::string group = std::string(slurm ? "SLURM_NTASKS=2 SLURM_JOB_NODELIST=localhost"
                                                : "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1") +
                              " MASTER_PORT=" + std::to_string(port);
    const std::string rank0 = slurm ? "SLURM_PROCID=0 SLURM_LOCALID=0" : "RANK=0";
    const std::string rank1 = slurm ? "SLURM_PROCID=1 SLURM_LOCALID=1" : "RANK=1";
    const std::string radpipe = std::string("timeout 120 ") + RADPIPE_EXECUTABLE +
                                " --threads 1 --plugin-path " + RADPIPE_TEST_PLUGIN_DIR + " " + arguments;
    const std::string in = folder_.string() + "/";
    const std::string script = "(exec env " + rank1 + " " + rank1_environment + " " + group + " " + radpipe +
                               " >" + in + "rank1.log 2>&1) & rank1=$!; env " + rank0 + " " + group + " " +
                               radpipe + " >" + in + "rank0.log 2>&1; echo $? >" + in + "rank0.rc; " +
                               "(sleep 3; kill $rank1 2>/dev/null) & wait $rank1; echo $? >" + in +
                               "rank1.rc";
    EXPECT_EQ(std::system(("bash -c '" + script + "'").c_str()), 0);
    return {std::stoi(read_text(folder_ / "rank0.rc")), std::stoi(read_text(folder_ / "rank1.rc"))};
  }

  std::string log(const std::string& name = "log.txt") const { return read_text(folder_ / name); }

  fs::path folder_;
};

// Fixed ports for the tests that start ranks themselves, away from torchrun's 29500 (--nproc finds a free
// one).
constexpr int kPortDeadRank = 29731, kPortHungRank = 29733, kPortGroupOfOne = 29737;

} // namespace

// 2 ranks of batch B average their gradients over the global batch 2B: the weights after 2
// epochs (8 SGD steps with momentum) equal those of 1 process of batch 2B up to float32 rounding
// of the sums (tolerance 1e-5 on weights of about 0.05).
TEST_F(DistributedTest, TwoRanksOfBatchBGiveTheWeightsOfOneProcessOfBatch2B) {
  ASSERT_EQ(radpipe("train " + write_pipeline("single", 8, true).string() + " --out " +
                    (folder_ / "single").string()),
            0)
      << log();
  ASSERT_EQ(radpipe("train " + write_pipeline("pair", 4, true).string() + " --out " +
                    (folder_ / "pair").string() + " --nproc 2"),
            0)
      << log();
  EXPECT_NE(log().find("--nproc: all 2 ranks finished"), std::string::npos) << log();
  const fs::path weights = "checkpoints/last/model.pt";
  EXPECT_LT(largest_difference(folder_ / "single" / weights, folder_ / "pair" / weights), 1e-5);

  // The comparison can fail: one process of batch B (twice the steps) ends elsewhere.
  ASSERT_EQ(radpipe("train " + write_pipeline("small", 4, true).string() + " --out " +
                    (folder_ / "small").string()),
            0)
      << log();
  EXPECT_GT(largest_difference(folder_ / "single" / weights, folder_ / "small" / weights), 1e-3);

  // Rank 0 alone wrote the outputs; the history counts the whole group's images.
  EXPECT_TRUE(fs::exists(folder_ / "pair" / "history.csv"));
  EXPECT_NE(read_text(folder_ / "pair" / "checkpoints" / "last" / "meta.json").find("\"world_size\": 2"),
            std::string::npos);
}

// The all-reduce overlapped with the backward pass (the default: a hook per parameter starts each
// bucket once its gradients are in) ends on the weights of the all-reduce after the backward pass:
// the same buckets, the same sums. Tiny buckets (20 bytes) hold one parameter tensor each,
// so that the order in which hooks fill and start them matters; the log shows that they started
// before the backward pass ended. Dropout and the random flip draw alike in both runs.
TEST_F(DistributedTest, OverlappedAllReduceGivesTheWeightsOfTheAllReduceAfterBackward) {
  const std::string buckets = "distributed_bucket_mb = 0.00002\n";
  ASSERT_EQ(radpipe("train " + write_pipeline("overlapped", 4, false, 32, buckets).string() + " --out " +
                    (folder_ / "overlapped").string() + " --nproc 2"),
            0)
      << log();
  const std::smatch started = [&] {
    std::smatch match;
    static const std::regex line("first step: ([0-9]+) of ([0-9]+) gradient buckets started their all-reduce before the "
                                 "backward pass ended");
    const std::string text = log();
    std::regex_search(text.begin(), text.end(), match, line);
    return match;
  }();
  ASSERT_FALSE(started.empty()) << log();
  std::cout << started.str() << "\n";
  EXPECT_GT(std::stoi(started[2]), 4) << log();
  EXPECT_GT(std::stoi(started[1]), 0) << log();
  ASSERT_EQ(radpipe("train " + write_pipeline("after", 4, false, 32, buckets + "distributed_overlap = false\n").string() +
                    " --out " + (folder_ / "after").string() + " --nproc 2"),
            0)
      << log();
  EXPECT_NE(log().find("all-reduced after the backward pass"), std::string::npos) << log();
  const fs::path weights = "checkpoints/last/model.pt";
  EXPECT_LT(largest_difference(folder_ / "overlapped" / weights, folder_ / "after" / weights), 1e-7);
}

// torchrun's environment, and a rank that dies mid-epoch: the other stops with an error naming the
// cause at once (Gloo sees the closed connection), and `--nproc` names the rank that died.
TEST_F(DistributedTest, ARankThatDiesStopsTheOthersWithAClearError) {
  const std::string arguments =
      "train " + write_pipeline("dies", 4, true).string() + " --out " + (folder_ / "dies").string();
  const auto start = std::chrono::steady_clock::now();
  const auto [rank0, rank1] = run_two_ranks(arguments, "RADPIPE_TEST_FAIL_RANK_AT_STEP=1:3", kPortDeadRank);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));
  EXPECT_EQ(rank1, 128 + 9) << log("rank1.log");
  EXPECT_EQ(rank0, 4) << log("rank0.log");
  EXPECT_NE(log("rank0.log").find("distributed training: rank 0 of 2: the agreement on the next step failed"),
            std::string::npos)
      << log("rank0.log");
  EXPECT_NE(log("rank0.log").find("Another rank most likely died"), std::string::npos) << log("rank0.log");

  const std::string launched =
      "train " + write_pipeline("dies", 4, true).string() + " --out " + (folder_ / "launched").string();
  EXPECT_EQ(radpipe(launched + " --nproc 2", "RADPIPE_TEST_FAIL_RANK_AT_STEP=1:3"), 4) << log();
  EXPECT_NE(log().find("--nproc: rank 1 (pid"), std::string::npos) << log();
  EXPECT_NE(log().find("was killed by signal 9"), std::string::npos) << log();
}

// A rank that hangs makes the other give up after [train] distributed_timeout instead of waiting
// for ever. The ranks find each other through Slurm's variables here.
TEST_F(DistributedTest, ARankThatHangsMakesTheOthersTimeOut) {
  const std::string arguments = "train " +
                                write_pipeline("hangs", 4, true, 32, "distributed_timeout = 5\n").string() +
                                " --out " + (folder_ / "hangs").string();
  const auto start = std::chrono::steady_clock::now();
  const auto [rank0, rank1] =
      run_two_ranks(arguments, "RADPIPE_TEST_FAIL_RANK_AT_STEP=1:3:hang", kPortHungRank, /*slurm=*/true);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));
  EXPECT_EQ(rank0, 4) << log("rank0.log");
  EXPECT_NE(rank1, 0);
  EXPECT_NE(log("rank0.log").find("the agreement on the next step failed"), std::string::npos)
      << log("rank0.log");
  EXPECT_NE(log("rank0.log").find("rank 0 of 2 (local rank 0, from slurm's environment): joining the group at localhost"),
            std::string::npos)
      << log("rank0.log");
}

// A group killed in epoch 2 resumes from epoch 1's checkpoint, every rank with its generator
// state (dropout, here), and ends with the weights of the uninterrupted run.
TEST_F(DistributedTest, ResumeAfterAKillContinuesTheGroup) {
  const fs::path pipeline = write_pipeline("resume", 4, false, 16);
  ASSERT_EQ(radpipe("train " + pipeline.string() + " --out " + (folder_ / "whole").string() + " --nproc 2"),
            0)
      << log();
  // 16 images, 2 ranks of batch 4: 2 steps an epoch. Rank 1 dies before step 4, after rank 0 has
  // saved epoch 1 (it saves before the collective of step 3).
  const std::string interrupted =
      "train " + pipeline.string() + " --out " + (folder_ / "cut").string() + " --nproc 2";
  ASSERT_NE(radpipe(interrupted, "RADPIPE_TEST_FAIL_RANK_AT_STEP=1:4"), 0) << log();
  ASSERT_TRUE(fs::exists(folder_ / "cut" / "checkpoints" / "last" / "meta.json")) << log();
  const auto states = read_weights(folder_ / "cut" / "checkpoints" / "last" / "random.pt");
  EXPECT_TRUE(states.contains("cpu") && states.contains("cpu.rank1"));

  ASSERT_EQ(radpipe(interrupted + " --resume"), 0) << log();
  EXPECT_NE(log().find("resuming after epoch 1"), std::string::npos) << log();
  const fs::path weights = "checkpoints/last/model.pt";
  EXPECT_LT(largest_difference(folder_ / "whole" / weights, folder_ / "cut" / weights), 1e-6);
}

// Routed chains would take different numbers of batches on each rank and hang the group: a
// pipeline that trains more than one chain is refused before any rank waits for another, and
// --route NAME (one chain) is the way out.
TEST_F(DistributedTest, APipelineTrainingSeveralChainsIsRefused) {
  const fs::path pipeline = write_pipeline("routed", 4, true);
  std::ofstream(pipeline, std::ios::app) << "[route]\nstage = \"by_field\"\nby = \"body_part\"\n"
                                         << "[route.hand.model]\nstage = \"test_linear\"\nsize = 16\ndevice = \"cpu\"\n";
  const std::string group = "RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29735";
  EXPECT_EQ(radpipe("train " + pipeline.string() + " --out " + (folder_ / "routed").string(), group), 4) << log();
  EXPECT_NE(log().find("distributed training trains one model chain per run, and this pipeline trains 2 (default, hand): "
                       "choose one with --route NAME"),
            std::string::npos)
      << log();
}

// --nproc starts a group of its own, so it is refused inside a launcher's.
TEST_F(DistributedTest, NprocUnderALaunchersEnvironmentIsRefused) {
  EXPECT_EQ(radpipe("train " + write_pipeline("refused", 4, true).string() + " --nproc 2",
                    "RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1"),
            2)
      << log();
  EXPECT_NE(log().find("drop --nproc under torchrun"), std::string::npos) << log();
}

// Gloo and the TCPStore write to their sockets without MSG_NOSIGNAL: in a rank that did not ignore
// SIGPIPE, a write to a peer that had just died ended the process with exit 141 and no word, where
// the failed collective names the cause (CI saw it once in the dead-rank test above). Joining a
// group (of one here, so that no timing decides it) must leave SIGPIPE ignored.
TEST(DistributedGroup, JoiningIgnoresSigpipeSoThatADeadPeerFailsACollective) {
  std::signal(SIGPIPE, SIG_DFL);
  radpipe::host::GroupPlace place;
  place.master_address = "127.0.0.1";
  place.master_port = kPortGroupOfOne;
  radpipe::host::ProcessGroup group(place, std::chrono::seconds(20));
  struct sigaction action {};
  ASSERT_EQ(sigaction(SIGPIPE, nullptr, &action), 0);
  EXPECT_EQ(action.sa_handler, SIG_IGN);
  std::vector<at::Tensor> tensors{torch::ones({3})};
  group.all_reduce_sum(tensors, "a test");
  EXPECT_EQ(tensors[0].sum().item<float>(), 3.0f);
}

// ---- The parts without processes ----------------------------------------------------------

TEST(DistributedPlace, TheMasterIsTheFirstNodeOfSlurmsList) {
  using radpipe::host::first_host_of_node_list;
  EXPECT_EQ(first_host_of_node_list("node17"), "node17");
  EXPECT_EQ(first_host_of_node_list("gpu[07-09,12],cpu01"), "gpu07");
  EXPECT_EQ(first_host_of_node_list("cpu01,gpu[07-09]"), "cpu01");
  EXPECT_EQ(first_host_of_node_list("rack1-n[3,5]"), "rack1-n3");
}

TEST(DistributedPlace, TorchrunsVariablesComeBeforeSlurms) {
  const auto clear = [] {
    for (const char* name : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "SLURM_PROCID",
                             "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_JOB_NODELIST", "SLURM_NODELIST"})
      ::unsetenv(name);
  };
  clear();
  EXPECT_FALSE(radpipe::host::group_place_from_environment());
  ::setenv("SLURM_PROCID", "3", 1);
  ::setenv("SLURM_NTASKS", "4", 1);
  ::setenv("SLURM_LOCALID", "1", 1);
  ::setenv("SLURM_JOB_NODELIST", "n[2-3]", 1);
  auto place = radpipe::host::group_place_from_environment();
  ASSERT_TRUE(place);
  EXPECT_EQ(place->source, "slurm");
  EXPECT_EQ(place->rank, 3);
  EXPECT_EQ(place->world_size, 4);
  EXPECT_EQ(place->local_rank, 1);
  EXPECT_EQ(place->master_address, "n2");
  EXPECT_EQ(place->master_port, 29500);
  ::setenv("RANK", "1", 1);
  ::setenv("WORLD_SIZE", "2", 1);
  ::setenv("MASTER_ADDR", "10.0.0.1", 1);
  ::setenv("MASTER_PORT", "1234", 1);
  place = radpipe::host::group_place_from_environment();
  ASSERT_TRUE(place);
  EXPECT_EQ(place->source, "torchrun");
  EXPECT_EQ(place->rank, 1);
  EXPECT_EQ(place->local_rank, 1); // LOCAL_RANK unset: the rank
  EXPECT_EQ(place->master_address, "10.0.0.1");
  EXPECT_EQ(place->master_port, 1234);
  ::setenv("RANK", "2", 1); // not below WORLD_SIZE
  EXPECT_THROW(radpipe::host::group_place_from_environment(), std::invalid_argument);
  ::setenv("RANK", "x", 1);
  EXPECT_THROW(radpipe::host::group_place_from_environment(), std::invalid_argument);
  clear();
}

TEST(DistributedSampler, SharesArePaddedOrDropped) {
  using radpipe::host::rank_share;
  // 5 images, 2 ranks: padding repeats image 0 for rank 1; dropping leaves image 4 out.
  EXPECT_EQ(rank_share(5, 0, 2, true), (std::vector<std::size_t>{0, 2, 4}));
  EXPECT_EQ(rank_share(5, 1, 2, true), (std::vector<std::size_t>{1, 3, 0}));
  EXPECT_EQ(rank_share(5, 0, 2, false), (std::vector<std::size_t>{0, 2}));
  EXPECT_EQ(rank_share(5, 1, 2, false), (std::vector<std::size_t>{1, 3}));
  EXPECT_TRUE(rank_share(1, 1, 2, false).empty());
}
