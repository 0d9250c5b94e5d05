#pragma once

namespace flowbatch {

/// Process exit codes (documented in the README).
inline constexpr int kExitOk = 0;           ///< every item reached a sink
inline constexpr int kExitFatal = 1;        ///< another fatal error (I/O, internal)
inline constexpr int kExitDeadLetters = 3;  ///< finished, with some items in a dead letter
inline constexpr int kExitUsage = 64;       ///< the command line is wrong: unknown option, missing argument (EX_USAGE)
inline constexpr int kExitResumable = 75;   ///< stopped early, nothing lost: run again to go on (EX_TEMPFAIL)
inline constexpr int kExitConfig = 78;      ///< configuration error (as Vector's validate, EX_CONFIG)
inline constexpr int kExitInterrupted = 130;  ///< stopped by Ctrl-C / SIGTERM

}  // namespace flowbatch
