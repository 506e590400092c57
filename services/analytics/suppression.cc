#include "services/analytics/suppression.h"

#include <functional>
#include <tuple>

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"

namespace meridian::analytics {
namespace {

using Line = std::vector<size_t>;  // indexes into the cells

// All keys of `cell` but the one at `free`, joined.
std::string OtherKeys(const CellCount& cell, size_t free) {
  std::string fixed;
  for (size_t p = 0; p < cell.keys.size(); ++p) {
    if (p == free) continue;
    fixed.append(cell.keys[p]);
    fixed.push_back('\x1f');
  }
  return fixed;
}

// Every line of the table: for each key position, the groups of cells that
// agree on all the other keys, and within those the cells of one parent
// group; and the whole table.
std::vector<Line> Lines(const std::vector<CellCount>& cells) {
  std::vector<Line> lines;
  if (cells.empty()) return lines;
  const size_t width = cells.front().keys.size();
  // Ordered, so that the same cells always give the same suppression: an
  // answer that changed between two asks would give cells away.
  std::map<std::string, Line> groups;
  for (size_t i = 0; i < cells.size(); ++i) {
    for (size_t free = 0; free < width; ++free) {
      groups[absl::StrCat(free, "\x1e", OtherKeys(cells[i], free))].push_back(i);
    }
    for (const ParentKey& parent : cells[i].parents) {
      groups[absl::StrCat(parent.position, "\x1e", parent.group, "\x1e",
                          OtherKeys(cells[i], parent.position))]
          .push_back(i);
    }
  }
  for (auto& [unused, line] : groups) {
    if (line.size() > 1) lines.push_back(std::move(line));
  }
  Line all(cells.size());
  for (size_t i = 0; i < cells.size(); ++i) all[i] = i;
  if (all.size() > 1) lines.push_back(std::move(all));
  // Smallest lines first: a month's complement is found among its own days
  // before the whole range takes one from another month.
  std::stable_sort(lines.begin(), lines.end(),
                   [](const Line& a, const Line& b) { return a.size() < b.size(); });
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
                   // a zero hides nothing: the smallest positive cell, else any
                   std::make_tuple(c.count == 0, c.count, std::cref(c.keys)) <
                       std::make_tuple(smallest->count == 0, smallest->count,
                                       std::cref(smallest->keys))) {
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
