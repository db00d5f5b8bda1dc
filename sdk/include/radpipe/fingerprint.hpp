/// @file
/// @brief The build fingerprint: what host and plugin must share to exchange C++ objects.
///
/// Stages exchange C++ objects (cv::Mat, torch::Tensor, std::string), so host and plugin must
/// share compiler family and major version, the C++ library ABI (`_GLIBCXX_USE_CXX11_ABI`), and
/// the LibTorch and OpenCV versions. The fingerprint is computed from the headers a plugin was
/// compiled against; the host compares it field by field before it calls anything else in the
/// plugin and names both sides of every field that differs.
#pragma once

#include <cstddef> // defines _GLIBCXX_USE_CXX11_ABI (libstdc++) before it is read below
#include <opencv2/core/version.hpp>
#include <torch/version.h>

/// Turns a macro's value into a string literal (helper of the macros below).
#define RADPIPE_STRINGIFY_IMPL(x) #x
/// Turns a macro's value into a string literal, expanding it first.
#define RADPIPE_STRINGIFY(x) RADPIPE_STRINGIFY_IMPL(x)

#if defined(__clang__)
#define RADPIPE_COMPILER_ID "clang-" RADPIPE_STRINGIFY(__clang_major__)
#elif defined(__GNUC__)
/// The compiler family and major version, e.g. `gcc-12`.
#define RADPIPE_COMPILER_ID "gcc-" RADPIPE_STRINGIFY(__GNUC__)
#else
#define RADPIPE_COMPILER_ID "unknown"
#endif

#if defined(_GLIBCXX_USE_CXX11_ABI)
/// The libstdc++ string and list ABI: `1` (C++11), `0` (the old one), or `none` (another library).
#define RADPIPE_CXX11_ABI RADPIPE_STRINGIFY(_GLIBCXX_USE_CXX11_ABI)
#else
#define RADPIPE_CXX11_ABI "none"
#endif

/// The fingerprint as text: `key=value` fields separated by `;`, so that the host can say which
/// one differs, e.g. `compiler=gcc-12;cxx11_abi=1;torch=1.13;opencv=4.6`.
#define RADPIPE_BUILD_FINGERPRINT                                                                 \
  "compiler=" RADPIPE_COMPILER_ID ";cxx11_abi=" RADPIPE_CXX11_ABI                                 \
  ";torch=" RADPIPE_STRINGIFY(TORCH_VERSION_MAJOR) "." RADPIPE_STRINGIFY(TORCH_VERSION_MINOR)     \
  ";opencv=" RADPIPE_STRINGIFY(CV_VERSION_MAJOR) "." RADPIPE_STRINGIFY(CV_VERSION_MINOR)
