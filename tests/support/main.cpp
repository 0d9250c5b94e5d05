// The doctest main of every test program, with one addition: a run filtered to test cases that
// matched none fails. ctest runs each case by name (doctest_discover_tests); a name that the
// filter cannot express (a ';' splits it as a CMake list) would otherwise "pass" by running nothing.
// It also points plugin lookups at the example plugins of this build.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

std::atomic<int> g_cases_started{0};

struct CaseCounter : doctest::IReporter {
  explicit CaseCounter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData&) override { ++g_cases_started; }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("case_counter", 1, CaseCounter);

bool filters_test_cases(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--test-case=", 12) == 0 || std::strncmp(argv[i], "-tc=", 4) == 0) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  // Graphs name the example plugins by bare name; in the build tree they sit in <build>/plugins,
  // beside the flowbatch program but not beside the test programs (a caller's setting wins).
  ::setenv("FLOWBATCH_PLUGIN_PATH", FLOWBATCH_PLUGIN_DIR, 0);
  doctest::Context context(argc, argv);
  const int result = context.run();
  if (context.shouldExit()) return result;
  if (result == 0 && filters_test_cases(argc, argv) && g_cases_started == 0) {
    std::fputs("no test case matched the --test-case filter (is there a ';' in its name?)\n", stderr);
    return 1;
  }
  return result;
}
