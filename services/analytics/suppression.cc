#include "services/analytics/suppression.h"

#include <algorithm>
#include <functional>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace meridian::analytics {
namespace {

using Line = std::vector<size_t>;  // indexes into the cells

// Every line of the table: for each key position, the groups of cells that
// agree on all the other keys, and within those the cells of one parent
// group; and the whole table. Smallest lines first (a month's complement is
// found among its own days before the whole range takes one from another
// month), ties in the cells' order: the same cells, in the store's order,
// always give the same lines, so the same answer.
std::vector<Line> Lines(const std::vector<CellCount>& cells) {
  std::vector<Line> lines;
  if (cells.empty()) return lines;
  const size_t width = cells.front().keys.size();
  // Keys and parent groups as small integers, so lines are found by hashing
  // a few ints instead of joining strings.
  std::vector<absl::flat_hash_map<absl::string_view, int>> ids(width + 1);
  auto id = [&](size_t slot, absl::string_view value) {
    auto [it, inserted] = ids[slot].try_emplace(value, static_cast<int>(ids[slot].size()));
    return it->second;
  };
  std::vector<std::vector<int>> key_ids(cells.size(), std::vector<int>(width));
  for (size_t i = 0; i < cells.size(); ++i) {
    for (size_t p = 0; p < width; ++p) key_ids[i][p] = id(p, cells[i].keys[p]);
  }
  absl::flat_hash_map<std::vector<int>, size_t> index;  // line key -> lines[]
  auto add = [&](std::vector<int> key, size_t cell) {
    auto [it, inserted] = index.try_emplace(std::move(key), lines.size());
    if (inserted) lines.emplace_back();
    lines[it->second].push_back(cell);
  };
  for (size_t i = 0; i < cells.size(); ++i) {
    for (size_t free = 0; free < width; ++free) {
      std::vector<int> key = key_ids[i];
      key[free] = -1;
      key.push_back(static_cast<int>(free));
      add(std::move(key), i);
    }
    for (const ParentKey& parent : cells[i].parents) {
      std::vector<int> key = key_ids[i];
      key[parent.position] = -2 - id(width, parent.group);
      key.push_back(static_cast<int>(parent.position));
      add(std::move(key), i);
    }
  }
  Line all(cells.size());
  for (size_t i = 0; i < cells.size(); ++i) all[i] = i;
  lines.push_back(std::move(all));
  lines.erase(std::remove_if(lines.begin(), lines.end(),
                             [](const Line& l) { return l.size() < 2; }),
              lines.end());
  std::sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  return lines;
}

}  // namespace

bool Suppress(std::vector<CellCount>& cells, int k) {
  int64_t total = 0;
  for (CellCount& c : cells) {
    total += c.count;
    if (c.count > 0 && c.count < k) c.suppressed = true;
  }
  // Which cell goes as a complement: the smallest positive (a zero hides
  // nothing), then by keys. Ranked once.
  std::vector<size_t> order(cells.size());
  for (size_t i = 0; i < cells.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const CellCount& x = cells[a];
    const CellCount& y = cells[b];
    return std::make_tuple(x.count == 0, x.count, std::cref(x.keys)) <
           std::make_tuple(y.count == 0, y.count, std::cref(y.keys));
  });
  std::vector<size_t> rank(cells.size());
  for (size_t r = 0; r < order.size(); ++r) rank[order[r]] = r;
  const std::vector<Line> lines = Lines(cells);
  for (bool changed = true; changed;) {
    changed = false;
    for (const Line& line : lines) {
      int suppressed = 0;
      size_t smallest = cells.size();  // none
      for (size_t i : line) {
        if (cells[i].suppressed) {
          ++suppressed;
        } else if (smallest == cells.size() || rank[i] < rank[smallest]) {
          smallest = i;
        }
      }
      if (suppressed == 1 && smallest != cells.size()) {
        cells[smallest].suppressed = true;
        changed = true;
      }
    }
  }
  return total > 0 && total < k;
}

}  // namespace meridian::analytics
