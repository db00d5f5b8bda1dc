// radpipe SDK: the build fingerprint. Stages exchange C++ objects (cv::Mat, torch::Tensor,
// std::string), so host and plugin must share compiler family, C++ library ABI, LibTorch and
// OpenCV versions. The fingerprint is computed from the headers a plugin was compiled against
// and compared field by field by the host before it calls anything else in the plugin.
#pragma once

#include <opencv2/core/version.hpp>
#include <torch/version.h>

#define RADPIPE_STRINGIFY_IMPL(x) #x
#define RADPIPE_STRINGIFY(x) RADPIPE_STRINGIFY_IMPL(x)

#if defined(__clang__)
#define RADPIPE_COMPILER_ID "clang-" RADPIPE_STRINGIFY(__clang_major__)
#elif defined(__GNUC__)
#define RADPIPE_COMPILER_ID "gcc-" RADPIPE_STRINGIFY(__GNUC__)
#else
#define RADPIPE_COMPILER_ID "unknown"
#endif

#if defined(_GLIBCXX_USE_CXX11_ABI)
#define RADPIPE_CXX11_ABI RADPIPE_STRINGIFY(_GLIBCXX_USE_CXX11_ABI)
#else
#define RADPIPE_CXX11_ABI "none"
#endif

// Fields are `key=value` separated by ';' so that the host can say which one differs.
#define RADPIPE_BUILD_FINGERPRINT                                                                 \
  "compiler=" RADPIPE_COMPILER_ID ";cxx11_abi=" RADPIPE_CXX11_ABI                                 \
  ";torch=" RADPIPE_STRINGIFY(TORCH_VERSION_MAJOR) "." RADPIPE_STRINGIFY(TORCH_VERSION_MINOR)     \
  ";opencv=" RADPIPE_STRINGIFY(CV_VERSION_MAJOR) "." RADPIPE_STRINGIFY(CV_VERSION_MINOR)
