// Unit tests for src/client/http_call: host:port parsing, percent-encoding, and the blocking call
// against a scripted server: what goes on the wire, refused vs timed out, and cancellation.
#include "client/http_call.hpp"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "client_fake_admin.hpp"

namespace switchboard::detail {
namespace {

using namespace std::chrono_literals;
using testing::FakeAdmin;
using testing::RefusingPort;
using testing::Reply;
using testing::SeenRequest;

HostPort to(const std::string& address) {
  return parse_host_port(address).value();
}

TEST(ClientHttp, ParsesHostPort) {
  EXPECT_EQ(parse_host_port("127.0.0.1:8091")->host, "127.0.0.1");
  EXPECT_EQ(parse_host_port("127.0.0.1:8091")->port, 8091);
  EXPECT_EQ(parse_host_port("admin.internal:1")->host, "admin.internal");
  EXPECT_EQ(parse_host_port("[::1]:65535")->host, "::1");
  EXPECT_EQ(parse_host_port("[::1]:65535")->text(), "[::1]:65535");
  EXPECT_EQ(parse_host_port("a:1")->text(), "a:1");
  for (const char* bad : {"", "127.0.0.1", ":80", "host:", "host:0", "host:65536", "host:8o",
                          "::1:80", "[::1]80", "[::1]:", "a b:80", "host:123456"}) {
    EXPECT_FALSE(parse_host_port(bad)) << bad;
  }
}

TEST(ClientHttp, PercentEncodesOneSegment) {
  EXPECT_EQ(percent_encode("web-1.a_b~"), "web-1.a_b~");
  EXPECT_EQ(percent_encode("a/b c%"), "a%2Fb%20c%25");
  EXPECT_EQ(percent_encode("\xff"), "%FF");
}

TEST(ClientHttp, SendsTheRequestAndReadsTheResponse) {
  FakeAdmin server([](const SeenRequest&) {
    return Reply{201, R"({"ok":true})", {{"X-Switchboard-Index", "42"}}};
  });
  HttpRequest request;
  request.method = "PUT";
  request.target = "/v1/x?y=1";
  request.body = "hello";
  request.headers = {{"X-One", "1"}, {"user-agent", "test"}, {"X-One", "2"}};
  const HttpResponse response = http_call(to(server.address()), request, 5s);
  EXPECT_EQ(response.status, 201);
  EXPECT_EQ(response.body, R"({"ok":true})");
  EXPECT_EQ(response.header("x-switchboard-index"), "42");
  EXPECT_FALSE(response.header("X-Missing"));

  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "PUT");
  EXPECT_EQ(seen[0].target, "/v1/x?y=1");
  EXPECT_EQ(seen[0].body, "hello");
  EXPECT_EQ(seen[0].headers.at("host"), server.address());
  EXPECT_EQ(seen[0].headers.at("user-agent"), "test");  // replaced the default
  EXPECT_EQ(seen[0].headers.at("content-length"), "5");
}

TEST(ClientHttp, RefusedMeansNotSent) {
  RefusingPort refusing;
  try {
    http_call(to(refusing.address()), {}, 5s);
    FAIL() << "no error";
  } catch (const TransportError& e) {
    EXPECT_FALSE(e.request_sent());
    EXPECT_NE(std::string(e.what()).find(refusing.address()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("refused"), std::string::npos) << e.what();
  }
}

TEST(ClientHttp, SilentServerTimesOutAfterSending) {
  FakeAdmin silent([](const SeenRequest&) { return std::nullopt; });
  const auto start = std::chrono::steady_clock::now();
  try {
    http_call(to(silent.address()), {}, 200ms);
    FAIL() << "no error";
  } catch (const TransportError& e) {
    EXPECT_TRUE(e.request_sent());
    EXPECT_NE(std::string(e.what()).find("timed out after 200ms"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(ClientHttp, CancelEndsACallInProgressAndLaterCalls) {
  FakeAdmin silent([](const SeenRequest&) { return std::nullopt; });
  CallCancel cancel;
  auto call =
      std::async(std::launch::async, [&] { http_call(to(silent.address()), {}, 60s, &cancel); });
  ASSERT_TRUE(testing::eventually([&] { return silent.requests().size() == 1; }));
  const auto start = std::chrono::steady_clock::now();
  cancel.cancel();
  EXPECT_THROW(call.get(), CallCancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_TRUE(cancel.cancelled());
  EXPECT_THROW(http_call(to(silent.address()), {}, 60s, &cancel), CallCancelled);
  EXPECT_EQ(silent.requests().size(), 1u);  // refused before connecting
}

TEST(ClientHttp, NotHttpIsATransportError) {
  // A server that answers with a body bigger than the limit: the limit holds.
  FakeAdmin server([](const SeenRequest&) { return Reply{200, std::string(1000, 'x'), {}}; });
  try {
    http_call(to(server.address()), {}, 5s, nullptr, 100);
    FAIL() << "no error";
  } catch (const TransportError& e) {
    EXPECT_NE(std::string(e.what()).find("larger than 100 bytes"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace switchboard::detail
