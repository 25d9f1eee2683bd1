// libFuzzer target: untrusted reply bytes into the sender's RFC 8972 TLV
// reading (tlv::split, every typed decoder, TlvReport::onReply and its
// JSON). Besides "no crash, no UB" under ASan/UBSan, it checks what
// split() promises: TLVs tile the input from its start, each value lies
// inside the input right after its header and holds min(Length, what is
// left), and an overrun is the last TLV.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "libstamp/tlv.hpp"
#include "sender/tlv_report.hpp"

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    __builtin_printf("fuzz_tlv: property violated: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // The first octet picks the split limit and how much of the reply the
  // kernel "captured".
  const size_t maxTlvs = 1 + data[0] % 20;
  const bool cut = data[0] & 0x80;
  std::span<const uint8_t> in(data + 1, size - 1);

  stamp::tlv::Split s = stamp::tlv::split(in, maxTlvs);
  require(s.tlvs.size() <= maxTlvs, "at most maxTlvs TLVs");
  size_t next = 0;
  for (size_t i = 0; i < s.tlvs.size(); ++i) {
    const auto& t = s.tlvs[i];
    require(t.offset == next, "TLVs tile the input");
    require(t.offset + stamp::tlv::kHeader <= in.size(), "a header lies inside the input");
    const size_t left = in.size() - t.offset - stamp::tlv::kHeader;
    require(t.value.data() == in.data() + t.offset + stamp::tlv::kHeader, "value after its header");
    require(t.value.size() == (t.length < left ? t.length : left), "value is min(Length, left)");
    require(t.overrun == (t.length > left), "overrun exactly when Length runs past the end");
    require(!t.overrun || i + 1 == s.tlvs.size(), "an overrun is the last TLV");
    next = t.offset + stamp::tlv::kHeader + t.length;
    (void)stamp::tlv::decodeLocation(t);
    (void)stamp::tlv::decodeTimestampInfo(t);
    (void)stamp::tlv::decodeClassOfService(t);
    (void)stamp::tlv::decodeDirectMeasurement(t);
    (void)stamp::tlv::decodeAccessReport(t);
    (void)stamp::tlv::decodeFollowUp(t);
  }
  require(s.truncatedHeader < stamp::tlv::kHeader, "a truncated header is under 4 octets");

  stamp::tlv::RequestOptions all;
  all.location = all.timestampInfo = all.directMeasurement = all.followUp = true;
  all.cosDscp = 46;
  all.accessReport = stamp::tlv::AccessReportRequest{};
  all.padding = 0;
  stamp::TlvReport report(all);
  stamp::TlvReport::Context c;
  c.senderReceived = size;
  c.reflectorPtp = data[0] & 1;
  c.now = 1'700'000'000LL * 1'000'000'000;
  report.onReplyT3(0, 0);
  report.onReply(in, in.size() + (cut ? 100 : 0), c);
  report.onReply(in.subspan(in.size() / 2), in.size(), c);
  require(!report.toJson().dump().empty(), "the report serialises");
  return 0;
}
