#include "services/analytics/suppression.h"

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
