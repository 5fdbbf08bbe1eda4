// Plain-text tables (see table.hpp).
#include "cli/table.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <utility>

namespace sb::cli {

Table::Table(std::vector<std::string> headers) {
  rows_.push_back(std::move(headers));
}

void Table::add_row(std::vector<std::string> cells) {
  if (cells.size() > rows_.front().size()) {
    throw std::invalid_argument("table row has more cells than the table has columns");
  }
  cells.resize(rows_.front().size());
  rows_.push_back(std::move(cells));
}

std::string Table::render() const {
  const size_t columns = rows_.front().size();
  std::vector<size_t> width(columns, 0);
  for (const auto& row : rows_) {
    for (size_t c = 0; c < columns; ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  for (const auto& row : rows_) {
    std::string line;
    for (size_t c = 0; c < columns; ++c) {
      if (c > 0) line += "  ";
      line += row[c];
      if (c + 1 < columns) line.append(width[c] - row[c].size(), ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();  // empty trailing cells
    out += line;
    out += '\n';
  }
  return out;
}

std::string format_age(std::chrono::milliseconds age) {
  const long long ms = std::max<long long>(age.count(), 0);
  char text[32];
  if (ms < 1'000) {
    std::snprintf(text, sizeof text, "%lldms", ms);
  } else if (ms < 10'000) {
    std::snprintf(text, sizeof text, "%lld.%llds", ms / 1'000, ms % 1'000 / 100);
  } else if (ms < 60'000) {
    std::snprintf(text, sizeof text, "%llds", ms / 1'000);
  } else if (ms < 3'600'000) {
    std::snprintf(text, sizeof text, "%lldm%02llds", ms / 60'000, ms % 60'000 / 1'000);
  } else {
    std::snprintf(text, sizeof text, "%lldh%02lldm", ms / 3'600'000, ms % 3'600'000 / 60'000);
  }
  return text;
}

}  // namespace sb::cli
