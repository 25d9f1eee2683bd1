#include <gtest/gtest.h>

#include "codec.hpp"

TEST(Codec, SenderRoundTrip) {
  uint8_t buf[44] = {};
  stamp::SenderPacket p{7, {1, 2}, 0x8001, 9};
  ASSERT_TRUE(stamp::encodeSender(p, buf));
  auto d = stamp::decodeSender(buf);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->seq, 7u);
  EXPECT_EQ(d->ssid, 9);
}
