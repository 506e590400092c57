// Small-cell suppression for published counts.
//
// Primary: a cell counting 1 to k-1 events is suppressed. Complementary: a
// reader who knows a sum and the other cells of that sum recovers a lone
// suppressed cell by subtraction, and any sum of cells along one key — a
// period's total, a row, a column, the grand total — can be had from another
// query. So every such line holding exactly one suppressed cell also loses
// its smallest published cell, repeated until no line does (the classic
// hypercube heuristic; it over-suppresses rather than reveal).
//
// Zero cells are not returned at all (they are not rows), as is usual for
// published health statistics.
#ifndef MERIDIAN_SERVICES_ANALYTICS_SUPPRESSION_H_
#define MERIDIAN_SERVICES_ANALYTICS_SUPPRESSION_H_

#include <cstdint>
#include <string>
#include <vector>

namespace meridian::analytics {

struct CellCount {
  // keys[0]: the period; then one value per grouped dimension.
  std::vector<std::string> keys;
  int64_t count = 0;
  bool suppressed = false;
};

// Marks cells suppressed as above; counts are left for the caller to clear.
// Returns whether the sum of all cells is itself below k.
bool Suppress(std::vector<CellCount>& cells, int k);

}  // namespace meridian::analytics

#endif  // MERIDIAN_SERVICES_ANALYTICS_SUPPRESSION_H_
