// Plain-text tables for the client commands' human output: left-aligned columns two spaces apart,
// headers in capitals, the last column unpadded so lines carry no trailing blanks.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace sb::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> headers);

  // A row with fewer cells than headers is padded with empty cells; extra cells are an error
  // (std::invalid_argument), as they would have no heading.
  void add_row(std::vector<std::string> cells);
  std::string render() const;

 private:
  std::vector<std::vector<std::string>> rows_;  // rows_[0] is the header
};

// A heartbeat's age, short: "350ms", "4.2s", "42s", "3m05s", "2h10m".
std::string format_age(std::chrono::milliseconds age);

}  // namespace sb::cli
