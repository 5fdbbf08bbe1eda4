// Unit tests of src/metrics/exposition.*: Prometheus text format lines, label escaping.
#include <gtest/gtest.h>

#include "metrics/exposition.hpp"

namespace sb::metrics {
namespace {

TEST(Exposition, FamilyThenSamples) {
  Exposition out;
  out.family("x_total", "counter", "Things.");
  out.sample("x_total", {{"service", "web"}, {"code", "2xx"}}, uint64_t{12});
  out.sample("x_total", uint64_t{3});
  EXPECT_EQ(out.text(),
            "# HELP x_total Things.\n# TYPE x_total counter\n"
            "x_total{service=\"web\",code=\"2xx\"} 12\nx_total 3\n");
}

TEST(Exposition, LabelValuesAreEscaped) {
  Exposition out;
  out.sample("g", {{"v", "a\"b\\c\nd"}}, 1.5);
  EXPECT_EQ(out.text(), "g{v=\"a\\\"b\\\\c\\nd\"} 1.5\n");
}

}  // namespace
}  // namespace sb::metrics
