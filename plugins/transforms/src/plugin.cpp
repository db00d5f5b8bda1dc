// The `transforms` plugin: deterministic preprocessing.
#include <radpipe/plugin.hpp>

#include "color.hpp"
#include "crop.hpp"
#include "equalize.hpp"
#include "intensity.hpp"
#include "normalize.hpp"
#include "resize.hpp"
#include "standardize.hpp"

namespace {
void register_transforms(radpipe::PluginRegistrar& registrar) {
  using namespace radpipe::transforms;
  registrar.add<Grayscale>("grayscale", "RGB to one luma channel; gray passes through", Grayscale::schema());
  registrar.add<Rgb>("rgb", "Gray to three equal channels; RGB passes through", Rgb::schema());
  registrar.add<Resize>("resize", "Resize to a fixed size: letterboxed (default), stretched or cropped to cover",
                        Resize::schema());
  registrar.add<CenterCrop>("center_crop", "Cut the centred window of a fixed size, padding a smaller image",
                            CenterCrop::schema());
  registrar.add<Normalize>("normalize", "To float in [0, 1], then per-channel (x - mean) / std",
                           Normalize::schema());
  registrar.add<MinMax>("min_max", "To float in [0, 1] from the image's own minimum and maximum",
                        MinMax::schema());
  registrar.add<PercentileClip>("percentile_clip",
                                "Clip to the image's low and high percentiles, then to float in [0, 1]",
                                PercentileClip::schema());
  registrar.add<Autocontrast>("autocontrast", "Stretch the intensity range to the full depth, keeping the depth",
                              Autocontrast::schema());
  registrar.add<Clahe>("clahe", "Contrast-limited adaptive histogram equalisation (8/16-bit; colour on luminance)",
                       Clahe::schema());
  registrar.add<EqualizeHistogram>("equalize_histogram",
                                   "Global histogram equalisation (8/16-bit; colour on luminance)",
                                   EqualizeHistogram::schema());
  registrar.add<Invert>("invert", "Depth maximum minus the value (1 - x for float)", Invert::schema());
  registrar.add<Standardize>("standardize",
                             "(x - mean) / std with the training split's statistics, scalar or per pixel (fitted)",
                             Standardize::schema());
}
} // namespace

RADPIPE_PLUGIN("transforms", "0.3.0", "Deterministic preprocessing: colour, size, cropping and intensity",
               register_transforms)
