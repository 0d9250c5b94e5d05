#include "engine/cli/core_dumps.h"

#include <sys/prctl.h>
#include <sys/resource.h>

namespace flowbatch {

void disable_core_dumps() {
  // Both: RLIMIT_CORE is inherited by children (a command provider's program sees the keys it
  // is given); PR_SET_DUMPABLE also covers a core_pattern that pipes to a handler, which ignores
  // the limit. Neither can fail for an unprivileged process lowering its own settings.
  const rlimit none{0, 0};
  ::setrlimit(RLIMIT_CORE, &none);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

}  // namespace flowbatch
