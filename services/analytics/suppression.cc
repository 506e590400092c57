#include "services/analytics/suppression.h"

#include <tuple>

#include "absl/container/flat_hash_map.h"

namespace meridian::analytics {
namespace {

using Line = std::vector<size_t>;  // indexes into the cells

// Every line of the table: for each key position, the groups of cells that
// agree on all the other keys; and the whole table.
std::vector<Line> Lines(const std::vector<CellCount>& cells) {
  std::vector<Line> lines;
  if (cells.empty()) return lines;
  const size_t width = cells.front().keys.size();
  for (size_t free = 0; free < width; ++free) {
    absl::flat_hash_map<std::string, Line> groups;
    for (size_t i = 0; i < cells.size(); ++i) {
      std::string fixed;
      for (size_t p = 0; p < width; ++p) {
        if (p == free) continue;
        fixed.append(cells[i].keys[p]);
        fixed.push_back('\x1f');
      }
      groups[fixed].push_back(i);
    }
    for (auto& [unused, line] : groups) {
      if (line.size() > 1) lines.push_back(std::move(line));
    }
  }
  Line all(cells.size());
  for (size_t i = 0; i < cells.size(); ++i) all[i] = i;
  if (all.size() > 1) lines.push_back(std::move(all));
  return lines;
}

}  // namespace

bool Suppress(std::vector<CellCount>& cells, int k) {
  int64_t total = 0;
  for (CellCount& c : cells) {
    total += c.count;
    if (c.count > 0 && c.count < k) c.suppressed = true;
  }
  const std::vector<Line> lines = Lines(cells);
  for (bool changed = true; changed;) {
    changed = false;
    for (const Line& line : lines) {
      int suppressed = 0;
      const CellCount* smallest = nullptr;
      size_t smallest_index = 0;
      for (size_t i : line) {
        const CellCount& c = cells[i];
        if (c.suppressed) {
          ++suppressed;
        } else if (smallest == nullptr ||
                   std::tie(c.count, c.keys) < std::tie(smallest->count, smallest->keys)) {
          smallest = &c;
          smallest_index = i;
        }
      }
      if (suppressed == 1 && smallest != nullptr) {
        cells[smallest_index].suppressed = true;
        changed = true;
      }
    }
  }
  return total > 0 && total < k;
}

}  // namespace meridian::analytics
