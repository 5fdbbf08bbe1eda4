// Unit tests for src/cli's flag parsing (--route, --meta, -H, --admin, durations) and table
// formatting.
#include <gtest/gtest.h>

#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "cli/table.hpp"

namespace sb::cli {
namespace {

using namespace std::chrono_literals;

TEST(ClientCliFlags, Route) {
  const auto any = parse_route_flag("/api");
  EXPECT_EQ(any.host, "");
  EXPECT_EQ(any.path_prefix, "/api");
  const auto hosted = parse_route_flag("shop.example:8080/api/v1");
  EXPECT_EQ(hosted.host, "shop.example:8080");
  EXPECT_EQ(hosted.path_prefix, "/api/v1");
  EXPECT_EQ(parse_route_flag("shop.example/").path_prefix, "/");
  EXPECT_THROW(parse_route_flag("shop.example"), UsageError);
  EXPECT_THROW(parse_route_flag(""), UsageError);
  EXPECT_THROW(parse_route_flag("bad host/x"), UsageError);
  try {
    parse_route_flag("api");
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("--route: ", 0), 0u) << e.what();
  }
}

TEST(ClientCliFlags, Meta) {
  EXPECT_EQ(parse_meta_flag("zone=eu-1"), std::make_pair(std::string("zone"), std::string("eu-1")));
  EXPECT_EQ(parse_meta_flag("expr=a=b").second, "a=b");
  EXPECT_EQ(parse_meta_flag("empty=").second, "");
  EXPECT_THROW(parse_meta_flag("novalue"), UsageError);
  EXPECT_THROW(parse_meta_flag("=x"), UsageError);
}

TEST(ClientCliFlags, Header) {
  EXPECT_EQ(parse_header_flag("X-Trace: abc  "),
            std::make_pair(std::string("X-Trace"), std::string("abc")));
  EXPECT_EQ(parse_header_flag("Accept:text/plain").second, "text/plain");
  EXPECT_EQ(parse_header_flag("X-Empty:").second, "");
  EXPECT_THROW(parse_header_flag("no colon"), UsageError);
  EXPECT_THROW(parse_header_flag(": value"), UsageError);
  EXPECT_THROW(parse_header_flag("Bad Name: v"), UsageError);
  EXPECT_THROW(parse_header_flag("X: a\r\nInjected: yes"), UsageError);
}

TEST(ClientCliFlags, AdminAndDurations) {
  EXPECT_EQ(parse_admin_flag("127.0.0.1:8091"), std::vector<std::string>{"127.0.0.1:8091"});
  EXPECT_EQ(parse_admin_flag("a:1,[::1]:2"), (std::vector<std::string>{"a:1", "[::1]:2"}));
  EXPECT_THROW(parse_admin_flag(""), UsageError);
  EXPECT_THROW(parse_admin_flag("a:1,"), UsageError);
  EXPECT_THROW(parse_admin_flag("localhost"), UsageError);
  EXPECT_EQ(parse_duration_flag("--timeout", "1500ms"), 1500ms);
  EXPECT_THROW(parse_duration_flag("--timeout", "5"), UsageError);
  EXPECT_EQ(parse_ttl_flag("10s"), std::optional<std::chrono::milliseconds>(10s));
  EXPECT_EQ(parse_ttl_flag("none"), std::nullopt);
  EXPECT_THROW(parse_ttl_flag("ten seconds"), UsageError);
}

TEST(ClientCliTable, ColumnsAlignWithoutTrailingBlanks) {
  Table table({"ID", "ADDRESS", "TAGS"});
  table.add_row({"web-1", "127.0.0.1:9101", "a,b"});
  table.add_row({"w", "10.0.0.1:80"});
  EXPECT_EQ(table.render(),
            "ID     ADDRESS         TAGS\n"
            "web-1  127.0.0.1:9101  a,b\n"
            "w      10.0.0.1:80\n");
  EXPECT_THROW(table.add_row({"1", "2", "3", "4"}), std::invalid_argument);
  EXPECT_EQ(Table({"SERVICE", "PASSING"}).render(), "SERVICE  PASSING\n");
}

TEST(ClientCliTable, Ages) {
  EXPECT_EQ(format_age(0ms), "0ms");
  EXPECT_EQ(format_age(-5ms), "0ms");
  EXPECT_EQ(format_age(350ms), "350ms");
  EXPECT_EQ(format_age(4250ms), "4.2s");
  EXPECT_EQ(format_age(42s), "42s");
  EXPECT_EQ(format_age(185s), "3m05s");
  EXPECT_EQ(format_age(7800s), "2h10m");
}

TEST(ClientCliCommands, Names) {
  for (const char* name : {"register", "deregister", "heartbeat", "drain", "undrain", "services",
                           "instances", "call"}) {
    EXPECT_TRUE(ClientCommands::is_command(name)) << name;
  }
  EXPECT_FALSE(ClientCommands::is_command("serve"));
  EXPECT_EQ(ClientCommands::names().rfind("register, deregister", 0), 0u);
}

}  // namespace
}  // namespace sb::cli
