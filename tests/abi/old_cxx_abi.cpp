// A well-formed plugin compiled with the old libstdc++ string ABI (-D_GLIBCXX_USE_CXX11_ABI=0, set
// by the test tree as a vendor would set it). It calls SDK functions that take std::string, so
// it needs symbols such as radpipe::ParamSpec::real(std::string, std::string) under their old-ABI
// names, which the SDK does not have: the host must refuse it by its fingerprint, naming both
// sides, instead of failing inside dlopen with a raw `undefined symbol`.
#include <radpipe/plugin.hpp>

#if !defined(_GLIBCXX_USE_CXX11_ABI) || _GLIBCXX_USE_CXX11_ABI != 0
#error "this test plugin must be compiled with -D_GLIBCXX_USE_CXX11_ABI=0; something overrode it"
#endif

namespace {
class Scale : public radpipe::Transform {
 public:
  Scale(const radpipe::Params& params, const radpipe::StageContext&) : factor_(params.real("factor")) {}
  void apply(radpipe::Sample& sample, const radpipe::TransformContext&) const override {
    sample.image.convertTo(sample.image, -1, factor_);
  }

 private:
  double factor_;
};

void register_stages(radpipe::PluginRegistrar& registrar) {
  registrar.add<Scale>("scale", "Multiplies every pixel",
                       radpipe::Schema{radpipe::ParamSpec::real("factor", "Multiplier").with_default(2.0)});
}
} // namespace

RADPIPE_PLUGIN("abi_old_cxx_abi", "1.0.0", "Built with the old C++ string ABI", register_stages)
