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
// Sums are also had across dimensions that nest: an institution's district
// and type, a code's group (ICD-10 chapter), a day's month and ISO week. A
// district's count minus its institutions' published counts gives back a
// lone suppressed institution, so each cell can name such coarser groups
// (`parents`), and the cells of one group (all other keys equal) form a line
// too. Sets of groups that overlap (districts and types at once) can still
// be combined by a determined reader; this heuristic does not solve that
// general audit problem.
//
// Zero cells are not returned at all (they are not rows), as is usual for
// published health statistics.
#ifndef MERIDIAN_SERVICES_ANALYTICS_SUPPRESSION_H_
#define MERIDIAN_SERVICES_ANALYTICS_SUPPRESSION_H_

#include <cstdint>
#include <string>
#include <vector>

namespace meridian::analytics {

// A coarser group of one key: e.g. {position of the INSTITUTION key,
// "district:330102"}. Labels must differ between kinds of group.
struct ParentKey {
  size_t position = 0;
  std::string group;
};

struct CellCount {
  // keys[0]: the period; then one value per grouped dimension.
  std::vector<std::string> keys;
  int64_t count = 0;
  bool suppressed = false;
  std::vector<ParentKey> parents;
};

// Marks cells suppressed as above; counts are left for the caller to clear.
// Returns whether the sum of all cells is itself below k.
bool Suppress(std::vector<CellCount>& cells, int k);

}  // namespace meridian::analytics

#endif  // MERIDIAN_SERVICES_ANALYTICS_SUPPRESSION_H_
