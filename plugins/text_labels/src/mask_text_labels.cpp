#include "mask_text_labels.hpp"

#include <algorithm>
#include <cmath>
#include <radpipe/error.hpp>
#include <radpipe/image.hpp>
#include <string>

namespace radpipe::text_labels {
namespace {

constexpr const char* stage_name = "mask_text_labels";

// Throws StageError naming `low_key` unless the value at `low_key` is below the one at `high_key`.
void require_below(const Params& params, const char* low_key, const char* high_key) {
  if (params.real(low_key) < params.real(high_key)) return;
  throw StageError(low_key, "must be less than " + std::string(high_key) + " (" +
                                std::to_string(params.real(high_key)) + "), got " +
                                std::to_string(params.real(low_key)));
}

int fraction_to_pixels(double fraction, const cv::Mat& image) {
  return std::max(1, static_cast<int>(std::lround(fraction * std::min(image.rows, image.cols))));
}

} // namespace

Schema MaskTextLabels::schema() {
  const std::string tesseract_note =
      tesseract_compiled_in ? "tesseract (Tesseract OCR words)"
                            : "tesseract (Tesseract OCR words; NOT compiled into this build: rebuild with "
                              "libtesseract-dev installed and -DRADPIPE_WITH_TESSERACT=ON)";
  const std::string relative = " (fraction of the image's shorter side)";
  return Schema{
      ParamSpec::string("detector",
                        "How labels are found: opencv (top-hat and character rules) or " + tesseract_note)
          .with_default("opencv")
          .one_of({"opencv", "tesseract"}),
      ParamSpec::string("fill",
                        "What covers a label: local_background (median of a ring around it), inpaint "
                        "(cv::inpaint, Telea) or zero")
          .with_default("local_background")
          .one_of({"local_background", "inpaint", "zero"}),
      ParamSpec::real("tophat_size",
                      "Side of the white top-hat kernel; brighter structures narrower than this are "
                      "candidates" +
                          relative)
          .with_default(0.08)
          .in_range(0.01, 0.5),
      ParamSpec::real("min_pixel_contrast",
                      "Least top-hat response of a candidate pixel, as a fraction of full intensity")
          .with_default(0.25)
          .in_range(0.01, 1),
      ParamSpec::real("min_char_contrast",
                      "Least mean top-hat response over a character's pixels, as a fraction of "
                      "full intensity; printed text is far brighter than anatomy")
          .with_default(0.47)
          .in_range(0, 1),
      ParamSpec::real("min_char_height", "Least character height" + relative)
          .with_default(0.012)
          .in_range(0, 1),
      ParamSpec::real("max_char_height", "Greatest character or marker-plate height" + relative)
          .with_default(0.1)
          .in_range(0, 1),
      ParamSpec::real("max_char_width", "Greatest character or marker-plate width" + relative)
          .with_default(0.15)
          .in_range(0, 1),
      ParamSpec::real("max_aspect", "Greatest ratio of a character box's longer side to its shorter one")
          .with_default(6.0)
          .in_range(1, 100),
      ParamSpec::real("min_fill", "Least fraction of a character's box its pixels cover")
          .with_default(0.15)
          .in_range(0, 1),
      ParamSpec::real("max_fill",
                      "Greatest fraction of a character's box its pixels cover; solid blobs are not text")
          .with_default(0.95)
          .in_range(0, 1),
      ParamSpec::real("max_stroke",
                      "Greatest stroke width (twice the deepest inscribed distance); thick blobs "
                      "are not text" +
                          relative)
          .with_default(0.05)
          .in_range(0, 1),
      ParamSpec::real("group_gap", "Characters (or OCR words) closer than this form one label" + relative)
          .with_default(0.012)
          .in_range(0, 1),
      ParamSpec::real("margin", "Added around each label box before filling" + relative)
          .with_default(0.012)
          .in_range(0, 1),
      ParamSpec::real("ring",
                      "Width of the band around a box whose median local_background fills with" + relative)
          .with_default(0.01)
          .in_range(0, 1),
      ParamSpec::real("inpaint_radius", "Neighbourhood radius of inpaint" + relative)
          .with_default(0.01)
          .in_range(0, 1),
      ParamSpec::real("tesseract_min_confidence", "detector = tesseract only: least word confidence, 0..100")
          .with_default(60.0)
          .in_range(0, 100),
      ParamSpec::real("tesseract_upscale",
                      "detector = tesseract only: the image is enlarged this much before OCR")
          .with_default(3.0)
          .in_range(1, 8),
  };
}

MaskTextLabels::MaskTextLabels(const Params& params, const StageContext& context)
    : context_(context),
      use_tesseract_(params.string("detector") == "tesseract"),
      detector_{.tophat_size = params.real("tophat_size"),
                .min_pixel_contrast = params.real("min_pixel_contrast"),
                .min_char_contrast = params.real("min_char_contrast"),
                .min_char_height = params.real("min_char_height"),
                .max_char_height = params.real("max_char_height"),
                .max_char_width = params.real("max_char_width"),
                .max_aspect = params.real("max_aspect"),
                .min_fill = params.real("min_fill"),
                .max_fill = params.real("max_fill"),
                .max_stroke = params.real("max_stroke"),
                .group_gap = params.real("group_gap"),
                .margin = params.real("margin")},
      tesseract_{params.real("tesseract_min_confidence"), params.real("tesseract_upscale")},
      fill_(fill_from_name(params.string("fill"))),
      ring_(params.real("ring")),
      inpaint_radius_(params.real("inpaint_radius")) {
  if (use_tesseract_ && !tesseract_compiled_in)
    throw StageError("detector",
                     "\"tesseract\" is not compiled into this build of the text_labels plugin; use "
                     "detector = \"opencv\", or install libtesseract-dev and tesseract-ocr-eng and "
                     "rebuild with -DRADPIPE_WITH_TESSERACT=ON");
  require_below(params, "min_char_height", "max_char_height");
  require_below(params, "min_fill", "max_fill");
}

std::vector<cv::Rect> MaskTextLabels::find_labels(const cv::Mat& image) const {
#if RADPIPE_TEXT_LABELS_WITH_TESSERACT
  if (use_tesseract_)
    return label_boxes(detect_text_with_tesseract(image, tesseract_), image.size(), detector_.group_gap,
                       detector_.margin);
#endif
  return detect_text_labels(image, detector_);
}

void MaskTextLabels::apply(Sample& sample, const TransformContext& /*context*/) const {
  require_radpipe_image(sample, stage_name);
  const std::vector<cv::Rect> boxes = find_labels(sample.image);
  context_.debug("sample " + sample.info.id + ": " + std::to_string(boxes.size()) + " text label(s) masked");
  if (boxes.empty()) return;
  // A copy, because the sample may share its pixels with the reader's or the caller's image.
  cv::Mat masked = sample.image.clone();
  fill_boxes(masked, boxes, fill_, fraction_to_pixels(ring_, masked),
             fraction_to_pixels(inpaint_radius_, masked));
  sample.image = std::move(masked);
}

} // namespace radpipe::text_labels
