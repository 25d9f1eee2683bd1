// Address parsing used by the config ([reflector] addresses, session
// targets): IPv4 is stored IPv4-mapped, as in the stamp_addrs map.
#include <gtest/gtest.h>

#include <initializer_list>

#include "netif.hpp"

namespace stamp {
namespace {

TEST(NetIf, ParsesIpv4AsMapped) {
  auto a = parseIp("192.0.2.1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, (Ip16{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1}));
  EXPECT_TRUE(isV4Mapped(*a));
  EXPECT_EQ(formatIp(*a), "192.0.2.1");
}

TEST(NetIf, ParsesIpv6) {
  auto a = parseIp("2001:db8::1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, (Ip16{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}));
  EXPECT_FALSE(isV4Mapped(*a));
  EXPECT_EQ(formatIp(*a), "2001:db8::1");
  // Written as IPv4-mapped IPv6, it is the same key as the IPv4 form.
  EXPECT_EQ(*parseIp("::ffff:192.0.2.1"), *parseIp("192.0.2.1"));
}

TEST(NetIf, RejectsNonAddresses) {
  for (const char* text : {"", "192.0.2", "192.0.2.256", "1.2.3.4.5", " 192.0.2.1", "::g",
                           "2001:db8::1/64", "localhost", "fe80::1%eth0"}) {
    auto a = parseIp(text);
    ASSERT_FALSE(a.ok()) << text;
    EXPECT_EQ(a.error().message, std::string("'") + text + "' is not an IPv4 or IPv6 address");
  }
}

TEST(NetIf, InterfaceIndex) {
  auto lo = interfaceIndex("lo");
  if (!lo) GTEST_SKIP() << "no loopback interface in this network namespace";
  EXPECT_GT(*lo, 0u);
  auto none = interfaceIndex("nosuchif0");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ENODEV);
  EXPECT_EQ(none.error().message, "interface 'nosuchif0' not found");
}

}  // namespace
}  // namespace stamp
