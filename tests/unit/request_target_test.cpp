// Unit tests for src/http/request_target: origin_form, target_path, the authority of an
// absolute-form target, Host validation, and path normalization (RFC 3986 6.2.2, 5.2.4).
#include "http/request_target.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>

namespace sb {
namespace {

using http::PathCheck;

TEST(OriginForm, StripsSchemeAndAuthority) {
  EXPECT_EQ(http::origin_form("/a/b?c"), "/a/b?c");
  EXPECT_EQ(http::origin_form("*"), "*");
  EXPECT_EQ(http::origin_form("http://example.com/a/b?c"), "/a/b?c");
  EXPECT_EQ(http::origin_form("https://example.com:8443/x"), "/x");
  EXPECT_EQ(http::origin_form("HTTP://EXAMPLE.COM/Up"), "/Up");
  EXPECT_EQ(http::origin_form("http://example.com"), "/");
  EXPECT_EQ(http::origin_form("http://example.com?q"), "?q");
  EXPECT_EQ(http::origin_form("http://user@example.com/p"), "/p");
}

TEST(TargetPath, DropsQuery) {
  EXPECT_EQ(http::target_path("/a/b?c=d"), "/a/b");
  EXPECT_EQ(http::target_path("/a/b"), "/a/b");
  EXPECT_EQ(http::target_path("/?"), "/");
  EXPECT_EQ(http::target_path("/a?b?c"), "/a");
}

TEST(TargetAuthority, OnlyForAbsoluteForm) {
  EXPECT_EQ(http::target_authority("http://a.example/x"), "a.example");
  EXPECT_EQ(http::target_authority("HTTPS://A.example:8443"), "A.example:8443");
  EXPECT_EQ(http::target_authority("http://a.example?q=/"), "a.example");
  EXPECT_EQ(http::target_authority("http://user@a.example/"), "user@a.example");
  EXPECT_EQ(http::target_authority("http:///x"), "");
  EXPECT_TRUE(http::is_absolute_form("http:///x"));
  for (const std::string_view target : {"/x", "*", "/http://a/", "ftp://a/x", "http:/a"}) {
    EXPECT_FALSE(http::is_absolute_form(target)) << target;
    EXPECT_EQ(http::target_authority(target), "") << target;
  }
}

TEST(ValidHost, AcceptsUriHostAndPort) {
  for (const std::string_view host :
       {"", "a.example", "A.Example:8090", "a.example.", "127.0.0.1", "127.0.0.1:80", "[::1]",
        "[::1]:8080", "[v1.fe80::a+en1]", "xn--bcher-kva.example", "a_b-c~d", "a%2Db",
        "a:", "sub!$&'()*+,;=delims"}) {
    EXPECT_TRUE(http::valid_host(host)) << host;
  }
}

TEST(ValidHost, RefusesWhatReadersSplitDifferently) {
  for (const std::string_view host : {"a b",
                                      "a.example/evil",
                                      "a\\b",
                                      "user@a.example",
                                      "a.example:80:80",
                                      "a.example:8o",
                                      "a.example:123456",
                                      "[::1",
                                      "[]",
                                      "[::1]x",
                                      "[::1]:8o",
                                      "a%2",
                                      "a%zz",
                                      "a\tb",
                                      "a\"b",
                                      "a<b>",
                                      "a?b",
                                      "a#b",
                                      "caf\xc3\xa9",
                                      ":80"}) {
    EXPECT_FALSE(http::valid_host(host)) << host;
  }
}

std::pair<PathCheck, std::string> normalized(std::string_view path) {
  std::string out = "stale";
  const PathCheck check = http::normalize_path(path, out);
  return {check, check == PathCheck::kNormalized ? out : std::string(path)};
}

TEST(NormalizePath, LeavesNormalPathsAlone) {
  for (const std::string_view path :
       {"/", "/a/b", "/a/b/", "/a//b", "/.hidden", "/a/.b/..c/...", "/a.b/c..", "*", ""}) {
    std::string out = "untouched";
    EXPECT_EQ(http::normalize_path(path, out), PathCheck::kUnchanged) << path;
    EXPECT_EQ(out, "untouched") << path;
  }
}

TEST(NormalizePath, RemovesDotSegments) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"/a/./b", "/a/b"},
      {"/a/b/.", "/a/b/"},
      {"/a/b/..", "/a/"},
      {"/a/../b", "/b"},
      {"/a/b/../../c", "/c"},
      {"/..", "/"},
      {"/../a", "/a"},
      {"/../../a/..", "/"},
      {"/.", "/"},
      {"/a//../b", "/a/b"},
      {"/public/../admin", "/admin"},
      {"/a/./../b/./c/.", "/b/c/"},
  };
  for (const auto& [path, expected] : cases) {
    EXPECT_EQ(normalized(path), std::make_pair(PathCheck::kNormalized, std::string(expected)))
        << path;
  }
}

TEST(NormalizePath, DecodesUnreservedAndUppercasesTheRest) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"/%61pi", "/api"},
      {"/%7euser", "/~user"},
      {"/a%2fb", "/a%2Fb"},  // an escaped slash is data, not a boundary
      {"/a%2F..", "/a%2F.."},
      {"/a%20b", "/a%20b"},
      {"/%2e%2e/admin", "/admin"},  // escaped dots are dots (RFC 3986 2.3)
      {"/x/.%2E/y", "/y"},
      {"/x/%2e/y", "/x/y"},
      {"/%41%5a%30%2D%5F", "/AZ0-_"},
      {"/%00", "/%00"},
      {"/%c3%a9", "/%C3%A9"},
  };
  for (const auto& [path, expected] : cases) {
    EXPECT_EQ(normalized(path), std::make_pair(PathCheck::kNormalized, std::string(expected)))
        << path;
  }
}

TEST(NormalizePath, RefusesMalformedEscapes) {
  for (const std::string_view path : {"/100%", "/a%2", "/a%zz", "/a%g0/b", "/%/a", "/a%2/b"}) {
    std::string out;
    EXPECT_EQ(http::normalize_path(path, out), PathCheck::kMalformed) << path;
  }
}

TEST(NormalizePath, RefusesPathsServersReadDifferently) {
  for (const std::string_view path :
       {"/a\\..\\admin", "/a\\b", "/public/..;/admin", "/public/..;x=1/admin", "/.;/admin",
        "/public/%2e%2e;/admin", "/a/..;"}) {
    std::string out;
    EXPECT_EQ(http::normalize_path(path, out), PathCheck::kAmbiguous) << path;
  }
  // Parameters on other segments are just data (jsessionid and the like).
  EXPECT_EQ(normalized("/a;jsessionid=1/b"),
            std::make_pair(PathCheck::kUnchanged, std::string("/a;jsessionid=1/b")));
  EXPECT_EQ(normalized("/a;x/../b;y"), std::make_pair(PathCheck::kNormalized, std::string("/b;y")));
  EXPECT_EQ(normalized("/...;/x"), std::make_pair(PathCheck::kUnchanged, std::string("/...;/x")));
}

TEST(NormalizePath, NormalFormIsAFixedPoint) {
  for (const std::string_view path : {"/a/../%2e%2E/b%2fc/./%7e", "/%2F/../x/", "/a/%2e./b"}) {
    const auto [check, once] = normalized(path);
    ASSERT_EQ(check, PathCheck::kNormalized) << path;
    std::string twice;
    const PathCheck again = http::normalize_path(once, twice);
    EXPECT_TRUE(again == PathCheck::kUnchanged || twice == once) << path << " -> " << once;
  }
}

}  // namespace
}  // namespace sb
