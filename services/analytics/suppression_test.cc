#include "services/analytics/suppression.h"

#include <algorithm>

#include "gtest/gtest.h"

namespace meridian::analytics {
namespace {

std::vector<bool> Marks(const std::vector<CellCount>& cells) {
  std::vector<bool> out;
  for (const CellCount& c : cells) out.push_back(c.suppressed);
  return out;
}

TEST(Suppress, NothingBelowKNothingSuppressed) {
  std::vector<CellCount> cells = {{{"", "a"}, 5}, {{"", "b"}, 9}};
  EXPECT_FALSE(Suppress(cells, 5));
  EXPECT_EQ(Marks(cells), (std::vector<bool>{false, false}));
}

TEST(Suppress, ALoneSmallCellTakesTheNextSmallestWithIt) {
  // Total 40 is published: 3 = 40 - 20 - 10 - 7 unless another cell goes.
  std::vector<CellCount> cells = {
      {{"", "a"}, 20}, {{"", "b"}, 3}, {{"", "c"}, 10}, {{"", "d"}, 7}};
  EXPECT_FALSE(Suppress(cells, 5));
  EXPECT_EQ(Marks(cells), (std::vector<bool>{false, true, false, true}));
}

TEST(Suppress, TwoSmallCellsProtectEachOther) {
  std::vector<CellCount> cells = {{{"", "a"}, 20}, {{"", "b"}, 3}, {{"", "c"}, 1}};
  Suppress(cells, 5);
  EXPECT_EQ(Marks(cells), (std::vector<bool>{false, true, true}));
}

TEST(Suppress, EveryRowAndColumnOfATwoWayTable) {
  // Rows a/b, columns x/y/z. (a,x) = 2 is small; its row and column would
  // each give it back, and the complements must themselves be protected in
  // their own lines.
  std::vector<CellCount> cells = {
      {{"", "a", "x"}, 2},  {{"", "a", "y"}, 30}, {{"", "a", "z"}, 40},
      {{"", "b", "x"}, 50}, {{"", "b", "y"}, 60}, {{"", "b", "z"}, 70},
  };
  Suppress(cells, 5);
  // Check the invariant rather than one solution: no line holds exactly one.
  auto suppressed_in = [&](auto pred) {
    int n = 0;
    for (const CellCount& c : cells) n += pred(c) && c.suppressed;
    return n;
  };
  EXPECT_TRUE(cells[0].suppressed);
  for (const char* row : {"a", "b"}) {
    EXPECT_NE(suppressed_in([&](const CellCount& c) { return c.keys[1] == row; }), 1) << row;
  }
  for (const char* col : {"x", "y", "z"}) {
    EXPECT_NE(suppressed_in([&](const CellCount& c) { return c.keys[2] == col; }), 1) << col;
  }
  EXPECT_NE(suppressed_in([](const CellCount&) { return true; }), 1);
}

TEST(Suppress, PeriodsAreALineToo) {
  // Month totals over a year can be had from a yearly query: a lone small
  // month in a row must not stand alone.
  std::vector<CellCount> cells = {{{"2026-01", "a"}, 12}, {{"2026-02", "a"}, 4},
                                  {{"2026-03", "a"}, 15}};
  Suppress(cells, 5);
  EXPECT_EQ(Marks(cells), (std::vector<bool>{true, true, false}));
}

TEST(Suppress, ASmallTotalIsReported) {
  std::vector<CellCount> cells = {{{"", "a"}, 2}, {{"", "b"}, 1}};
  EXPECT_TRUE(Suppress(cells, 5));
  EXPECT_EQ(Marks(cells), (std::vector<bool>{true, true}));
  std::vector<CellCount> none;
  EXPECT_FALSE(Suppress(none, 5));
}

}  // namespace
}  // namespace meridian::analytics

namespace meridian::analytics {
namespace {

TEST(Suppress, NestedGroupsAreLinesToo) {
  // An institution query, with districts: the district query publishes
  // d2 = 14, so B's 12 must go with C's 2 (not D's 8, the smallest overall).
  auto cell = [](const char* inst, int64_t n, const char* district) {
    return CellCount{{"", inst}, n, false, {{1, std::string("district:") + district}}};
  };
  std::vector<CellCount> cells = {cell("A", 30, "d1"), cell("B", 12, "d2"), cell("C", 2, "d2"),
                                  cell("D", 8, "d3")};
  Suppress(cells, 5);
  EXPECT_EQ(Marks(cells), (std::vector<bool>{false, true, true, false}));
}

TEST(Suppress, DaysOfAMonthAreALine) {
  auto day = [](const char* d, int64_t n, const char* month) {
    return CellCount{{d}, n, false, {{0, std::string("month:") + month}}};
  };
  std::vector<CellCount> cells = {day("2026-01-30", 40, "2026-01"), day("2026-01-31", 3, "2026-01"),
                                  day("2026-02-01", 6, "2026-02"), day("2026-02-02", 50, "2026-02")};
  Suppress(cells, 5);
  // January's line takes the 40 with the 3, and the whole range is then
  // already safe (two suppressed): February stays published.
  EXPECT_EQ(Marks(cells), (std::vector<bool>{true, true, false, false}));
}

TEST(Suppress, SameCellsSameAnswer) {
  std::vector<CellCount> a;
  for (int i = 0; i < 50; ++i) {
    a.push_back({{"", "i" + std::to_string(i), i % 2 ? "x" : "y"}, i % 7 + 1, false,
                 {{1, "district:" + std::to_string(i % 5)}}});
  }
  std::vector<CellCount> b(a.rbegin(), a.rend());
  Suppress(a, 5);
  Suppress(b, 5);
  std::vector<bool> ma = Marks(a), mb = Marks(b);
  std::reverse(mb.begin(), mb.end());
  EXPECT_EQ(ma, mb);
}

}  // namespace
}  // namespace meridian::analytics
