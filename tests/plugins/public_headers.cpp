// Every public plugin header, compiled as a plugin author's strict build would compile it: a
// warning in include/flowbatch/ fails the build (see tests/plugins/CMakeLists.txt).
#include <flowbatch/batch.h>
#include <flowbatch/error_class.h>
#include <flowbatch/http.h>
#include <flowbatch/item.h>
#include <flowbatch/options.h>
#include <flowbatch/plugin.h>
#include <flowbatch/provider.h>
#include <flowbatch/rate_headers.h>
#include <flowbatch/registry.h>
#include <flowbatch/sink.h>
#include <flowbatch/source.h>
#include <flowbatch/transform.h>
#include <flowbatch/version.h>
