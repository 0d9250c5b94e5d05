// A test plugin that claims to be built with other libraries (another Boost): flowbatch must
// refuse it, naming both builds.
#include <flowbatch/registry.h>
#include <flowbatch/version.h>

extern "C" __attribute__((visibility("default"))) int flowbatch_plugin_api_version() {
  return FLOWBATCH_PLUGIN_API_VERSION;
}
extern "C" __attribute__((visibility("default"))) const char* flowbatch_plugin_build() {
  return "Boost 1_74, libstdc++ (cxx11 ABI 1)";
}
extern "C" __attribute__((visibility("default"))) void flowbatch_plugin_register(flowbatch::Registry&) {}
