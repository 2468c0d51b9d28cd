// main.cpp: the Catch2 runner of every test binary, with three rules that
// make a green CTest entry mean that a test case ran:
//  - a run whose filter matches no test case fails (exit 2), where Catch2's
//    default main prints "No tests ran" and exits 0 (CTest entries whose name
//    was split at a ';' passed that way without running anything);
//  - each finished test case appends "binary<TAB>case<TAB>passed|failed|
//    skipped<TAB>reason" to the file named by DUET_TEST_LEDGER, so that
//    tests/run can check that the cases run equal the cases declared
//    (tests/support/check_ledger.py);
//  - a run of exactly one case that skipped itself (DUET_SKIP) exits 77, which
//    CTest reports as "Skipped" (SKIP_RETURN_CODE), with the reason on stdout.
#define CATCH_CONFIG_RUNNER
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "test_util.hpp"

namespace duet::test {
namespace {

struct RunTally {
  int cases = 0;
  int skipped = 0;
  bool current_skipped = false;
  std::string current_reason;
  std::string binary;
  pid_t pid = 0;  // the runner's own process: a forked child (death tests) writes nothing
};

RunTally& tally() {
  static RunTally t;
  return t;
}

std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

/// Appends one line to the ledger with a single write(2) on an O_APPEND
/// descriptor, so lines from concurrent test processes never interleave.
void append_ledger(const std::string& line) {
  if (::getpid() != tally().pid) return;
  const char* path = std::getenv("DUET_TEST_LEDGER");
  if (path == nullptr || *path == '\0') return;
  const int fd = ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  [[maybe_unused]] const ssize_t n = ::write(fd, line.data(), line.size());
  ::close(fd);
}

class Ledger : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;

  void testCaseStarting(Catch::TestCaseInfo const& info) override {
    tally().current_skipped = false;
    tally().current_reason.clear();
    TestEventListenerBase::testCaseStarting(info);
  }

  void testCaseEnded(Catch::TestCaseStats const& stats) override {
    RunTally& t = tally();
    ++t.cases;
    const bool failed = !stats.totals.assertions.allOk() || stats.totals.testCases.failed > 0;
    const char* result = failed ? "failed" : t.current_skipped ? "skipped" : "passed";
    if (!failed && t.current_skipped) ++t.skipped;
    append_ledger(t.binary + '\t' + one_line(stats.testInfo.name) + '\t' + result + '\t' +
                  one_line(t.current_reason) + '\n');
    TestEventListenerBase::testCaseEnded(stats);
  }
};

CATCH_REGISTER_LISTENER(Ledger)

}  // namespace

void note_skip(const std::string& reason) {
  tally().current_skipped = true;
  tally().current_reason = reason;
}

}  // namespace duet::test

int main(int argc, char* argv[]) {
  Catch::Session session;
  if (const int rc = session.applyCommandLine(argc, argv); rc != 0) return rc;
  auto& cfg = session.configData();
  cfg.warnings = static_cast<Catch::WarnAbout::What>(cfg.warnings | Catch::WarnAbout::NoTests);
  const std::string self = argc > 0 ? argv[0] : "test";
  duet::test::tally().binary = self.substr(self.find_last_of('/') + 1);
  duet::test::tally().pid = ::getpid();
  const int rc = session.run();
  const auto& t = duet::test::tally();
  if (rc == 0 && t.cases == 1 && t.skipped == 1) return 77;
  return rc;
}
