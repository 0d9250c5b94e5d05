#pragma once

namespace flowbatch {

/// Keeps API keys out of core dumps: a crash must not write the process's memory (keys, prompts,
/// answers) to a file anyone with access to the folder can read. Sets RLIMIT_CORE to 0 and marks
/// the process not dumpable (which also keeps other processes of the same user from reading its
/// memory through /proc). Called first thing, before any key is read.
void disable_core_dumps();

}  // namespace flowbatch
