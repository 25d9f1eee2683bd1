// libFuzzer target: untrusted bytes into the packet decoders, the Error
// Estimate and the timestamp decoders. Besides "no crash, no UB" under
// ASan/UBSan, it checks the properties the unit tests check on examples:
// decoders accept exactly the lengths they promise, re-encoding reproduces
// every non-MBZ octet, and timestamps unfold next to the reference.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "libstamp/codec.hpp"
#include "libstamp/error_estimate.hpp"
#include "libstamp/timefmt.hpp"

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    __builtin_printf("fuzz_codec: property violated: %s\n", what);
    std::abort();
  }
}

bool sameOctets(const uint8_t* a, const uint8_t* b, size_t from, size_t to) {
  return std::memcmp(a + from, b + from, to - from) == 0;
}

void checkErrorEstimate(uint16_t v) {
  stamp::ErrorEstimate ee = stamp::ErrorEstimate::decode(v);
  require(ee.encode() == v, "ErrorEstimate decode/encode round trip");
  auto ns = ee.errorNs();
  require(ns.has_value() == (ee.multiplier != 0), "errorNs() is nullopt exactly for Multiplier 0");
}

// Unix seconds within 2^32 of 1970 keep every decoded UnixNs inside int64.
stamp::UnixNs referenceFrom(uint32_t bits) {
  return (int64_t(int32_t(bits)) * 2) * stamp::kNsPerSec;
}

void checkTimestamp(stamp::WireTs ts, stamp::UnixNs ref, int32_t tai) {
  const int64_t kHalfEra = (int64_t{1} << 31) * stamp::kNsPerSec;
  stamp::UnixNs t = stamp::unixNsFromNtp(ts, ref);
  require(t - ref <= kHalfEra + stamp::kNsPerSec && ref - t <= kHalfEra + stamp::kNsPerSec,
          "NTP unfolds within half an era of the reference");
  // Rounding on decode and truncation on encode stay within 3 fraction units.
  int64_t drift = int64_t(stamp::ntpFromUnixNs(t).raw() - ts.raw());
  require(drift >= -3 && drift <= 3, "NTP decode/encode stays within 3 units");

  if (ts.frac < stamp::kNsPerSec) {
    stamp::UnixNs p = stamp::unixNsFromPtp(ts, tai, ref);
    require(stamp::ptpFromUnixNs(p, tai) == ts, "PTP decode/encode round trip");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);

  auto s = stamp::decodeSender(in);
  require(s.has_value() == (size >= 16), "decodeSender accepts exactly 16+ octets");
  if (s) {
    uint8_t out[stamp::kUnauthBase];
    require(stamp::encodeSender(*s, out), "encodeSender into 44 octets");
    require(sameOctets(out, data, 0, 16), "sender re-encode reproduces octets 0..15");
    for (size_t i = 16; i < sizeof(out); ++i) require(out[i] == 0, "sender MBZ is zero");
    checkErrorEstimate(s->errEst);
  }

  auto r = stamp::decodeReflector(in);
  require(r.has_value() == (size >= stamp::kMinReplyLen), "decodeReflector accepts exactly 38+");
  if (r) {
    require(r->hasSenderTtl == (size >= 41), "hasSenderTtl iff octet 40 is present");
    require(r->hasSsid == (size >= 44), "hasSsid iff the full base is present");
    require(r->hasSenderTtl || r->senderTtl == 0, "absent TTL reads as 0");
    require(r->hasSsid || r->ssid == 0, "absent SSID reads as 0");
    uint8_t out[stamp::kUnauthBase];
    require(stamp::encodeReflector(*r, out), "encodeReflector into 44 octets");
    require(sameOctets(out, data, 0, 12), "reflector re-encode: seq, T3");
    require(sameOctets(out, data, 12, 14), "reflector re-encode: error estimate");
    require(sameOctets(out, data, 16, 38), "reflector re-encode: T2, sender seq, T1, sender EE");
    require(out[38] == 0 && out[39] == 0 && out[41] == 0 && out[42] == 0 && out[43] == 0,
            "reflector MBZ is zero");
    if (r->hasSsid) require(sameOctets(out, data, 14, 16), "reflector re-encode: SSID");
    if (r->hasSenderTtl) require(out[40] == data[40], "reflector re-encode: sender TTL");
    checkErrorEstimate(r->errEst);
    checkErrorEstimate(r->senderErrEst);

    // The packet's own bits pick the reference and TAI offset, so the
    // fuzzer steers them too.
    stamp::UnixNs ref = referenceFrom(r->senderSeq);
    int32_t tai = int32_t(r->errEst & 0xff);
    checkTimestamp(r->ts, ref, tai);
    checkTimestamp(r->rxTs, ref, tai);
    checkTimestamp(r->senderTs, ref, tai);
  }

  // The encoder of error bounds: never understates, never Multiplier 0.
  if (size >= 8) {
    uint64_t err;
    std::memcpy(&err, data, 8);
    err >>= (data[0] & 63);
    stamp::ErrorEstimate ee = stamp::ErrorEstimate::fromErrorNs(err, data[1] & 1, data[1] & 2);
    require(ee.multiplier != 0, "fromErrorNs never gives Multiplier 0");
    require(ee.scale <= 63, "fromErrorNs Scale fits 6 bits");
    require(*ee.errorNs() >= double(err), "fromErrorNs never understates");
  }
  return 0;
}
