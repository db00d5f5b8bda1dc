// The `augment` plugin: seeded random transforms for training. Each draw depends only on the
// pipeline seed, the epoch, the sample's index and the stage's settings (see seeding.hpp).
#include <radpipe/plugin.hpp>

#include "affine.hpp"
#include "crop.hpp"
#include "flip.hpp"
#include "intensity.hpp"

namespace {
void register_augment(radpipe::PluginRegistrar& registrar) {
  using namespace radpipe::augment;
  registrar.add<RandomFlip>(RandomFlip::name, "Mirror left-right and/or top-bottom at random",
                            RandomFlip::schema());
  registrar.add<RandomAffine>(RandomAffine::name, "Random rotation, shear, zoom and shift in one warp",
                              RandomAffine::schema());
  registrar.add<RandomIntensity>(RandomIntensity::name,
                                 "Random autocontrast, gamma, contrast, brightness and Gaussian noise",
                                 RandomIntensity::schema());
  registrar.add<RandomCrop>(RandomCrop::name, "A window of fixed size at a random position",
                            RandomCrop::schema());
}
} // namespace

RADPIPE_PLUGIN("augment", "0.1.0", "Seeded, train-only augmentation: flips, affine warps, intensity, crops",
               register_augment)
