#include "loader/host_keys.hpp"

namespace radpipe::host {

const Schema& host_keys_for(StageKind kind) {
  static const Schema model{
      ParamSpec::string("device", "Device of the chain's model: cpu, cuda, cuda:N, or auto (the first CUDA device, else the CPU)")
          .with_default("auto"),
      ParamSpec::string("precision",
                        "Numeric precision of the chain's model when scoring (predict, evaluate, explain, validation in "
                        "training): fp32, or autocast to bf16 (CPU and CUDA) or fp16 (CUDA only)")
          .with_default("fp32")
          .one_of({"fp32", "bf16", "fp16"}),
      ParamSpec::strings("classes",
                         "Class names of a multi-class model, in the order of its outputs (their count must equal the "
                         "model's outputs); absent for binary models, whose classes are normal and abnormal")
          .optional(),
      ParamSpec::string("target",
                        "With classes: the sample field or tag whose value is each image's class when training and "
                        "evaluating (body_part, view, a CSV column, a DICOM keyword)")
          .with_default("label"),
      ParamSpec::strings("ensemble",
                         "Weights files of an ensemble of this model table (k checkpoints of one architecture, e.g. the best "
                         "of several training runs): the table is built once per file, each loads its file instead of the "
                         "table's weights, and the chain scores the mean of their outputs (see average); [] scores one model")
          .with_default(ParamValue{std::vector<std::string>{}}),
      ParamSpec::string("average",
                        "How the outputs of an ensemble's models and of the TTA views are combined: the mean of their "
                        "probabilities, or the probability of their mean logit")
          .with_default("probability")
          .one_of({"probability", "logit"}),
      ParamSpec::strings("tta_flips", "Test-time augmentation: a view flipped each of these ways (\"horizontal\", \"vertical\") "
                                      "besides the unaugmented one, averaged with it (predict, evaluate, explain; never train)")
          .with_default(ParamValue{std::vector<std::string>{}})
          .one_of({"horizontal", "vertical"}),
      ParamSpec::integer("tta_shift", "Test-time augmentation: four views moved by this many pixels left, right, up and down "
                                      "(edge pixels repeated into the gap); 0: none")
          .with_default(0)
          .in_range(0, 256),
      ParamSpec::real("tta_crop", "Test-time augmentation: five crops (four corners and the centre) of this fraction of each "
                                  "side, resized back to the input's size; 1: none")
          .with_default(1.0)
          .in_range(0.25, 1.0),
  };
  static const Schema aggregator{
      ParamSpec::real("threshold", "Study probability at or above which a study is called positive").with_default(0.5).in_range(0, 1),
  };
  static const Schema router{
      ParamSpec::string("fallback",
                        "Chain for studies the router has no chain for, or is not confident about (default: the [model] "
                        "chain when the pipeline has one)")
          .optional(),
      ParamSpec::string("on_unknown", "What a study without a chain does: go to the fallback chain, be skipped (logged and "
                                      "counted), or stop the run")
          .with_default("fallback")
          .one_of({"fallback", "skip", "fail"}),
      ParamSpec::string("consult", "A chain to run first on each study's images; the router sees its class probabilities "
                                   "(a body-part classifier, say)")
          .optional(),
      ParamSpec::string("train_by", "Sample field or tag whose value assigns training images to chains (through each "
                                    "chain's name and match list); needed when the router consults a chain")
          .optional(),
      ParamSpec::integer("max_study_images",
                         "Images of one study held while the study is routed; a longer study is routed in parts of this size")
          .with_default(256)
          .in_range(1, 100000),
  };
  static const Schema none;
  switch (kind) {
  case StageKind::Model: return model;
  case StageKind::Aggregator: return aggregator;
  case StageKind::Router: return router;
  default: return none;
  }
}

const Schema& chain_table_schema() {
  static const Schema schema{
      ParamSpec::integer("batch_size", "Images per model call of this chain (default: [pipeline] batch_size)").optional().in_range(1, 65536),
      ParamSpec::strings("match", "Router values that pick this chain besides its own name, compared without regard to case "
                                  "(e.g. [\"HAND\", \"XR_HAND\"])")
          .with_default(ParamValue{std::vector<std::string>{}}),
  };
  return schema;
}

} // namespace radpipe::host
