#include "seeding.hpp"

#include <algorithm>
#include <string>

namespace radpipe::augment {
namespace {

// FNV-1a: folds text into 64 bits; splitmix64 then does the mixing.
std::uint64_t fold(std::uint64_t hash, std::string_view text) {
  for (const char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return hash;
}

} // namespace

std::uint64_t splitmix64(std::uint64_t value) {
  value += 0x9e3779b97f4a7c15ULL;
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
  return value ^ (value >> 31);
}

std::uint64_t stage_salt(std::string_view stage, const Params& params) {
  std::uint64_t hash = fold(0xcbf29ce484222325ULL, stage);
  for (const auto& [name, value] : params.values()) { // a sorted map: the order is fixed
    hash = fold(hash, "\n");
    hash = fold(hash, name);
    hash = fold(hash, "=");
    hash = fold(hash, to_toml(value));
  }
  return splitmix64(hash);
}

std::mt19937_64 sample_generator(std::uint64_t salt, const TransformContext& context, std::uint64_t index) {
  // Each input passes through splitmix64 before the next is folded in, so that nearby values
  // (index 7 and 8, epoch 1 and 2) give unrelated seeds.
  std::uint64_t state = splitmix64(salt ^ splitmix64(context.seed));
  state = splitmix64(state ^ splitmix64(context.epoch + 0x5eed));
  state = splitmix64(state ^ splitmix64(index + 0x1dec5));
  return std::mt19937_64(state);
}

double unit(std::mt19937_64& generator) {
  return static_cast<double>(generator() >> 11) * 0x1.0p-53;
}

double uniform(std::mt19937_64& generator, double low, double high) {
  return low + (high - low) * unit(generator);
}

bool chance(std::mt19937_64& generator, double probability) {
  return unit(generator) < probability;
}

int uniform_int(std::mt19937_64& generator, int low, int high) {
  const double span = static_cast<double>(high) - low + 1.0;
  return std::min(high, low + static_cast<int>(unit(generator) * span));
}

} // namespace radpipe::augment
