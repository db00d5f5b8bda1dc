// Reproducible randomness for augmentation. Every draw a stage makes for a sample comes from a
// generator seeded by mixing the pipeline seed, the epoch, the sample's index and a per-stage
// salt, so that a sample's augmentation depends on nothing else: not on thread scheduling, not on
// which samples ran before it, and not on any global generator.
#pragma once

#include <cstdint>
#include <random>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>
#include <string_view>

namespace radpipe::augment {

// Sebastiano Vigna's splitmix64 finaliser: a bijection that spreads every input bit over the output.
std::uint64_t splitmix64(std::uint64_t value);

// A salt from the stage's registered name and every parameter value as TOML writes it, so that
// two different stages (or one stage with different settings) draw independently.
std::uint64_t stage_salt(std::string_view stage, const Params& params);

// The generator for one sample: seed, epoch, index and salt mixed through splitmix64.
std::mt19937_64 sample_generator(std::uint64_t salt, const TransformContext& context, std::uint64_t index);

// Draws are computed here rather than with <random>'s distributions, whose algorithms the
// standard leaves to each library: the same seed must give the same image with any toolchain.
double unit(std::mt19937_64& generator);                               // [0, 1), 53 bits
double uniform(std::mt19937_64& generator, double low, double high);   // [low, high); low when equal
bool chance(std::mt19937_64& generator, double probability);           // true with that probability
int uniform_int(std::mt19937_64& generator, int low, int high);        // [low, high], inclusive

} // namespace radpipe::augment
