// A test plugin that claims another plugin API version: flowbatch must refuse it, naming both.
#include <flowbatch/registry.h>
#include <flowbatch/version.h>

extern "C" __attribute__((visibility("default"))) int flowbatch_plugin_api_version() { return 999; }
extern "C" __attribute__((visibility("default"))) const char* flowbatch_plugin_build() {
  return FLOWBATCH_PLUGIN_BUILD;
}
extern "C" __attribute__((visibility("default"))) void flowbatch_plugin_register(flowbatch::Registry&) {}
