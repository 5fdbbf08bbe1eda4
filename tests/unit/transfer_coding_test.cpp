// Unit tests for src/http/transfer_coding: the Transfer-Encoding field read as a list.
#include "http/transfer_coding.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sb::http {
namespace {

TEST(TransferCoding, ChunkedAloneInAnySpelling) {
  for (const char* value :
       {"chunked", "CHUNKED", "ChUnKeD", ",chunked", "chunked,", " , chunked ,", "\tchunked\t"}) {
    EXPECT_TRUE(is_chunked_alone(value)) << value;
  }
}

TEST(TransferCoding, AnythingElseIsNotChunkedAlone) {
  for (const char* value : {"", ",", "gzip", "gzip, chunked", "chunked, chunked", "chunked, gzip",
                            "chunkedx", "chunked;a=b", "chun ked"}) {
    EXPECT_FALSE(is_chunked_alone(value)) << value;
  }
}

TEST(TransferCoding, AppendsTheListTrimmedWithoutEmptyElements) {
  const auto codings = [](const char* value) {
    std::string out = "<";
    append_codings(value, out);
    return out;
  };
  EXPECT_EQ(codings("chunked"), "<chunked");
  EXPECT_EQ(codings(",ChUnKeD"), "<chunked");
  EXPECT_EQ(codings(" gzip ,, \tCHUNKED "), "<gzip, chunked");
  EXPECT_EQ(codings("Gzip;q=1,chunked"), "<Gzip;q=1, chunked");
  EXPECT_EQ(codings(" , "), "<");
}

}  // namespace
}  // namespace sb::http
