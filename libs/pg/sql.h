// Small SQL value helpers for libpqxx 6.4, which has no array parameters.
#ifndef MERIDIAN_LIBS_PG_SQL_H_
#define MERIDIAN_LIBS_PG_SQL_H_

#include <string>
#include <vector>

namespace meridian::pg {

// A PostgreSQL array literal of text values, for a `$n::text[]` parameter:
// {"a","b \"quoted\""}. Every element is quoted and escaped.
std::string TextArray(const std::vector<std::string>& values);

}  // namespace meridian::pg

#endif  // MERIDIAN_LIBS_PG_SQL_H_
