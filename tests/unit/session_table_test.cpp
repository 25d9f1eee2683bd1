// The session table without BPF: real sessions (a UDP socket toward a
// loopback port nobody answers) started, found, refused while running,
// replaced once finished, and kernel records routed by id.
#include <gtest/gtest.h>
#include <sys/epoll.h>

#include "sender/session_table.hpp"

namespace stamp {
namespace {

using namespace std::chrono_literals;

SessionSpec spec(const std::string& name) {
  SessionSpec s;
  s.name = name;
  s.target = *parseIp("127.0.0.1");
  s.port = 9;  // discard: nothing answers on loopback
  s.count = 1;
  s.interval = 1ms;
  s.timeout = 1ms;
  return s;
}

TEST(SessionTable, StartFindRefuseReplaceErase) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop.ok()) << loop.error().message;
  SessionTable table;
  ClockState clock;
  bool finished = false;
  Session::Observer obs;
  obs.onFinished = [&] {
    finished = true;
    loop->stop();
  };
  auto a = table.start(spec("a"), *loop, nullptr, clock, obs);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(table.find("a"), *a);
  EXPECT_EQ(table.find("b"), nullptr);
  EXPECT_EQ(table.running(), 1u);

  auto again = table.start(spec("a"), *loop, nullptr, clock, {});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, EBUSY);

  auto b = table.start(spec("b"), *loop, nullptr, clock, {});
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_NE((*a)->id(), (*b)->id());
  EXPECT_EQ(table.all().size(), 2u);

  // Run the loop until "a" has sent its packet and given up on the reply
  // (or a 5 s guard fires).
  auto guard = makePeriodicTimer(5'000'000'000);
  ASSERT_TRUE(guard.ok());
  ASSERT_TRUE(loop->add(guard->get(), EPOLLIN, [&](uint32_t) { loop->stop(); }).ok());
  ASSERT_TRUE(loop->run().ok());
  loop->remove(guard->get());
  ASSERT_TRUE(finished) << "session a did not finish";
  EXPECT_TRUE((*a)->finished());
  EXPECT_EQ((*a)->stats().sent, 1u);
  EXPECT_EQ((*a)->stats().lost, 1u);

  // A finished run is replaced by the next run of its name, under a new id.
  uint32_t oldId = (*a)->id();
  auto a2 = table.start(spec("a"), *loop, nullptr, clock, {});
  ASSERT_TRUE(a2.ok()) << a2.error().message;
  EXPECT_NE((*a2)->id(), oldId);
  EXPECT_EQ(table.find("a"), *a2);

  // A record for an id nobody has is ignored.
  stamp_rx_record rec{};
  rec.session_id = 999999;
  table.onRecord(rec, clock);

  table.erase("a");
  EXPECT_EQ(table.find("a"), nullptr);
  EXPECT_EQ(table.all().size(), 1u);
  table.clear();
  EXPECT_EQ(table.running(), 0u);
}

}  // namespace
}  // namespace stamp
