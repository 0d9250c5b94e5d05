#pragma once
// The one header a flowbatch plugin includes.
//
//   #include <flowbatch/plugin.h>
//   FLOWBATCH_PLUGIN(registry) {
//     registry.add(flowbatch::TransformType{...});
//   }
//
// Build it as a MODULE library linked to flowbatch::plugin, then list it in the graph:
//   [pipeline]
//   plugins = ["plugins/libmyplugin.so"]   # relative to the graph file, or a bare name
//
// The macro defines the three C functions flowbatch looks up after dlopen():
//   flowbatch_plugin_api_version()  the API version the plugin was compiled against
//   flowbatch_plugin_build()        the libraries it was compiled with (Boost, C++ library)
//   flowbatch_plugin_register()     adds its types to the registry
// A plugin whose version or build differs from the program's is refused with both named.
#include "flowbatch/item.h"
#include "flowbatch/options.h"
#include "flowbatch/provider.h"
#include "flowbatch/registry.h"
#include "flowbatch/sink.h"
#include "flowbatch/source.h"
#include "flowbatch/transform.h"
#include "flowbatch/version.h"

#define FLOWBATCH_PLUGIN(registry)                                                         \
  extern "C" __attribute__((visibility("default"))) int flowbatch_plugin_api_version() {   \
    return FLOWBATCH_PLUGIN_API_VERSION;                                                   \
  }                                                                                        \
  extern "C" __attribute__((visibility("default"))) const char* flowbatch_plugin_build() { \
    return FLOWBATCH_PLUGIN_BUILD;                                                         \
  }                                                                                        \
  extern "C" __attribute__((visibility("default"))) void flowbatch_plugin_register(        \
      ::flowbatch::Registry& registry)  // NOLINT(bugprone-macro-parentheses): the argument names a parameter
