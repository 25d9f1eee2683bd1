// Address parsing used by the config ([reflector] addresses, session
// targets): IPv4 is stored IPv4-mapped, as in the stamp_addrs map.
#include <gtest/gtest.h>

#include <initializer_list>

#include "kernel/netif.hpp"

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

// Prefixes of [reflector] allow and deny: in the 128-bit space of Ip16.
namespace stamp {
namespace {
TEST(NetIf, ParsesPrefixes) {
  auto v4 = parsePrefix("192.0.2.0/24");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->addr, *parseIp("192.0.2.0"));
  EXPECT_EQ(v4->length, 120);
  EXPECT_EQ(formatPrefix(*v4), "192.0.2.0/24");
  auto host = parsePrefix("192.0.2.1");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->length, 128);
  EXPECT_EQ(formatPrefix(*host), "192.0.2.1/32");
  auto any4 = parsePrefix("0.0.0.0/0");
  ASSERT_TRUE(any4.ok());
  EXPECT_EQ(any4->length, 96) << "every IPv4 source is ::ffff:0:0/96";
  EXPECT_EQ(formatPrefix(*any4), "0.0.0.0/0");
  auto v6 = parsePrefix("2001:db8::/32");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->length, 32);
  EXPECT_EQ(formatPrefix(*v6), "2001:db8::/32");
  EXPECT_EQ(formatPrefix(*parsePrefix("::/0")), "::/0");
  EXPECT_EQ(formatPrefix(*parsePrefix("2001:db8::1")), "2001:db8::1/128");
  // The mapped form of an IPv4 prefix is the same prefix.
  EXPECT_EQ(*parsePrefix("::ffff:192.0.2.0/120"), *v4);
}

TEST(NetIf, RejectsBadPrefixes) {
  const std::pair<const char*, const char*> bad[] = {
      {"192.0.2.0/33", "'192.0.2.0/33': the prefix length must be 0..32"},
      {"192.0.2.0/-1", "'192.0.2.0/-1': the prefix length must be 0..32"},
      {"192.0.2.0/+8", "'192.0.2.0/+8': the prefix length must be 0..32"},
      {"192.0.2.0/24x", "'192.0.2.0/24x': the prefix length must be 0..32"},
      {"192.0.2.0/99999999999", "'192.0.2.0/99999999999': the prefix length must be 0..32"},
      {"::/129", "'::/129': the prefix length must be 0..128"},
      {"/24", "'/24' is not an IPv4 or IPv6 address or prefix"},
      {"", "'' is not an IPv4 or IPv6 address or prefix"},
      {"10.0.0.0/8/8", "'10.0.0.0/8/8': the prefix length must be 0..32"},
      {"10.1.0.0/8", "'10.1.0.0/8' has bits set beyond its length (did you mean '10.0.0.0/8'?)"},
      {"::ffff:1.2.3.4/64",
       "'::ffff:1.2.3.4/64' has bits set beyond its length (did you mean '::/64'?)"},
  };
  for (const auto& [text, message] : bad) {
    auto p = parsePrefix(text);
    ASSERT_FALSE(p.ok()) << text;
    EXPECT_EQ(p.error().message, message) << text;
  }
}
}  // namespace
}  // namespace stamp
