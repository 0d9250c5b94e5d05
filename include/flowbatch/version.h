#pragma once
// flowbatch plugin API version. A plugin built against another version is refused at load time.
// Bump it on any change to a header in include/flowbatch/ that alters a type's layout or a virtual table.
#define FLOWBATCH_PLUGIN_API_VERSION 1

namespace flowbatch {
inline constexpr int kPluginApiVersion = FLOWBATCH_PLUGIN_API_VERSION;
}  // namespace flowbatch
