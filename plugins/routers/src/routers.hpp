// Router stages. Both see a whole study: every image of it meets the chain they choose.
#pragma once

#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>

#include <string>

namespace radpipe::routers {

// Routes on a sample field or tag: body_part, view, a CSV column, a DICOM keyword such as
// BodyPartExamined. The study's value is the one most of its images carry (ties: the first seen),
// so that one mislabelled image does not split a study. The host maps the value to the chain
// whose name or match list holds it.
class ByField : public Router {
public:
  ByField(const Params& params, const StageContext& context);
  static Schema schema();
  RouteDecision route(const StudyToRoute& study) const override;

private:
  std::string field_;
  std::string strip_prefix_;
};

// Routes on what a consulted classifier chain predicts: the mean of the study's images' class
// probabilities, its largest class, and that class's mean probability as the confidence. Below
// `min_confidence` the study goes to the fallback chain.
class Classifier : public Router {
public:
  Classifier(const Params& params, const StageContext& context);
  static Schema schema();
  RouteDecision route(const StudyToRoute& study) const override;

private:
  double min_confidence_;
};

} // namespace radpipe::routers
