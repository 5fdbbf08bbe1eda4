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

TEST(LatencyHistogram, BucketsAreUpperBoundsAndTheScrapeIsCumulative) {
  LatencyHistogram h;
  h.record(500);         // on the first bound: first bucket
  h.record(501);         // just above: second
  h.record(20'000'000);  // beyond the last bound: +Inf
  LatencyTotals totals;
  totals.add(h);
  EXPECT_EQ(totals.counts[0], 1u);
  EXPECT_EQ(totals.counts[1], 1u);
  EXPECT_EQ(totals.counts.back(), 1u);
  EXPECT_EQ(totals.sum_us, 20'001'001u);
  Exposition out;
  out.histogram("x_seconds", "web", "a:1", totals);
  const std::string& text = out.text();
  EXPECT_NE(text.find("x_seconds_bucket{service=\"web\",instance=\"a:1\",le=\"0.0005\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("x_seconds_bucket{service=\"web\",instance=\"a:1\",le=\"0.001\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("x_seconds_bucket{service=\"web\",instance=\"a:1\",le=\"+Inf\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("x_seconds_count{service=\"web\",instance=\"a:1\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("x_seconds_sum{service=\"web\",instance=\"a:1\"} 20.001001\n"),
            std::string::npos);
}

}  // namespace
}  // namespace sb::metrics
