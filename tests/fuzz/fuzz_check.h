// What a fuzz target asserts: a broken property aborts (libFuzzer keeps the
// input as a crash reproducer; the replay build fails its ctest entry).
#ifndef MERIDIAN_TESTS_FUZZ_FUZZ_CHECK_H_
#define MERIDIAN_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__, \
                   #cond);                                                     \
      std::abort();                                                            \
    }                                                                          \
  } while (0)

#endif  // MERIDIAN_TESTS_FUZZ_FUZZ_CHECK_H_
