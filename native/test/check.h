// A minimal test harness: CHECK records a failure and goes on; main() prints
// "N passed, N failed" and exits non-zero on any failure.
#pragma once

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace check {

struct Case {
  const char* name;
  std::function<void()> run;
};

inline std::vector<Case>& Cases() {
  static std::vector<Case> cases;
  return cases;
}
inline int& Failures() {
  static int failures = 0;
  return failures;
}

struct Register {
  Register(const char* name, std::function<void()> run) {
    Cases().push_back({name, std::move(run)});
  }
};

inline int RunAll() {
  int passed = 0, failed = 0;
  for (const Case& c : Cases()) {
    int before = Failures();
    try {
      c.run();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "  unexpected exception: %s\n", e.what());
      ++Failures();
    }
    bool ok = Failures() == before;
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", c.name);
    (ok ? passed : failed)++;
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace check

#define TEST_CASE(name)                                \
  static void name();                                  \
  static check::Register register_##name(#name, name); \
  static void name()

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "  %s:%d: CHECK(%s)\n", __FILE__, __LINE__, #cond); \
      ++check::Failures();                                                     \
    }                                                                          \
  } while (0)

// Evaluates `expr` and checks that it throws IoError of `kind`.
#define CHECK_THROWS_KIND(expr, expected_kind)                                          \
  do {                                                                                  \
    bool threw = false;                                                                 \
    try {                                                                               \
      expr;                                                                             \
    } catch (const blockferry::IoError& e) {                                            \
      threw = e.kind() == (expected_kind);                                              \
    }                                                                                   \
    if (!threw) {                                                                       \
      std::fprintf(stderr, "  %s:%d: %s did not throw %s\n", __FILE__, __LINE__, #expr, \
                   #expected_kind);                                                     \
      ++check::Failures();                                                              \
    }                                                                                   \
  } while (0)
