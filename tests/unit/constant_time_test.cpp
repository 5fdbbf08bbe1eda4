// Unit tests of src/core/constant_time.hpp: equal only for the same bytes and length.
#include <gtest/gtest.h>

#include "core/constant_time.hpp"

namespace sb {
namespace {

TEST(ConstantTimeEqual, SameBytesAndLengthOnly) {
  EXPECT_TRUE(constant_time_equal("s3cret-token", "s3cret-token"));
  EXPECT_FALSE(constant_time_equal("s3cret-tokeN", "s3cret-token"));
  EXPECT_FALSE(constant_time_equal("s3cret-token-and-more", "s3cret-token"));
  EXPECT_FALSE(constant_time_equal("s3cret", "s3cret-token"));
  EXPECT_FALSE(constant_time_equal("", "s3cret-token"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

}  // namespace
}  // namespace sb
