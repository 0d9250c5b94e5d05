// A test plugin whose registration throws: reported as an error at the plugins entry.
#include <flowbatch/plugin.h>

#include <stdexcept>

FLOWBATCH_PLUGIN(registry) {
  (void)registry;
  throw std::runtime_error("cannot find my model file");
}
