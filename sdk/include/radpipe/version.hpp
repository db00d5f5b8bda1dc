// radpipe SDK: version numbers that host and plugins compare at load time.
#pragma once

// The plugin ABI: bumped whenever a type that crosses the plugin boundary changes layout or
// meaning. Host and plugin must agree exactly.
#define RADPIPE_ABI_VERSION 1u

// The SDK release, informative: printed by `radpipe plugins` and `--version`.
#define RADPIPE_SDK_VERSION_MAJOR 0
#define RADPIPE_SDK_VERSION_MINOR 1
#define RADPIPE_SDK_VERSION_PATCH 0
#define RADPIPE_SDK_VERSION_STRING "0.1.0"
