// Key functions of the LibTorch stages, apart from stages.cpp so that the rest of the SDK compiles
// without LibTorch's headers (the fuzz build's clang cannot compile them in C++20 mode).
#include <radpipe/model.hpp>

namespace radpipe {

Model::~Model() = default;
Explainer::~Explainer() = default;

} // namespace radpipe
