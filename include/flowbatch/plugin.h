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
//   plugins = ["plugins/libmyplugin.so"]
#include "flowbatch/item.h"
#include "flowbatch/options.h"
#include "flowbatch/registry.h"
#include "flowbatch/version.h"

#define FLOWBATCH_PLUGIN(registry)                                                        \
  extern "C" __attribute__((visibility("default"))) int flowbatch_plugin_api_version() { \
    return FLOWBATCH_PLUGIN_API_VERSION;                                                 \
  }                                                                                      \
  extern "C" __attribute__((visibility("default"))) void flowbatch_plugin_register(      \
      ::flowbatch::Registry& registry)
