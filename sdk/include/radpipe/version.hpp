/// @file
/// @brief Version numbers of the radpipe SDK and of its plugin ABI.
///
/// Two numbers, with two promises (docs/plugins.md, "Compatibility policy"):
/// - the **ABI version** must be equal in host and plugin: it changes whenever a type or function
///   that crosses the plugin boundary changes layout or meaning (a stage interface gains a virtual
///   method, Sample gains a field, ...);
/// - the **SDK version** (`MAJOR.MINOR.PATCH`) is the release of the headers and of the host. A
///   plugin built against an older SDK release of the same ABI loads into a newer host; a plugin
///   that needs a newer host says so in its `min_host_version`.
///
/// `radpipe --version` prints both and the build fingerprint; `radpipe plugins` prints each
/// plugin's SDK version, and `radpipe plugins --json` its ABI version too.
#pragma once

/// The plugin ABI version. The host loads a plugin only when this number is the same in both.
#define RADPIPE_ABI_VERSION 3u

/// Major part of the SDK release (0 while the interfaces settle).
#define RADPIPE_SDK_VERSION_MAJOR 0
/// Minor part of the SDK release: bumped with every ABI version and with every addition.
#define RADPIPE_SDK_VERSION_MINOR 3
/// Patch part of the SDK release: fixes that change no declaration plugins see.
#define RADPIPE_SDK_VERSION_PATCH 0
/// The SDK release as text, `MAJOR.MINOR.PATCH`; also the host's version (CMake reads it from here).
#define RADPIPE_SDK_VERSION_STRING "0.3.0"
