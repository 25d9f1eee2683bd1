// Schedules of scheduled sessions ("sessions scheduled with cron-like
// timers"): parsing a schedule string, computing its next run, and the
// Scheduler that keeps the run state of many named entries.
//
// Pure computation: no I/O, no threads, and no clock reads; every function
// that needs the time takes `now` (UnixNs) from the caller, so the event loop
// reads CLOCK_REALTIME once per wake-up and tests use a fake clock. The only
// outside state read is the process's time zone (TZ, through localtime_r) for
// schedules in local time. Nothing here throws on input.
//
// Schedule syntax
//   Five cron fields "MIN HOUR DOM MON DOW", separated by spaces or tabs:
//     minute 0-59, hour 0-23, day of month 1-31, month 1-12 or JAN-DEC,
//     day of week 0-7 or SUN-SAT (0 and 7 are both Sunday).
//   Each field is a comma-separated list of items; an item is
//     *          every value of the field
//     N          one value (a number, or a name in the month and weekday fields)
//     N-M        a range, N <= M (ranges do not wrap around)
//     */S  N-M/S every S-th value of the range, starting at its first
//     N/S        the same as N-max/S ("3/15" is minute 3, 18, 33, 48)
//   Names are case-insensitive. A step is at least 1 and at most the span of
//   the field (59 for minutes, 7 for weekdays).
//   Day rule (the classic one): if both the day-of-month and the day-of-week
//   fields are restricted, a day matches when EITHER matches; otherwise both
//   must match. A field counts as restricted unless it is exactly "*" (so,
//   unlike Vixie cron, "*/2" is restricted).
//   A day-of-month list that never occurs in the allowed months ("0 0 30 2 *")
//   is rejected rather than accepted as a schedule that never runs.
//
//   Macros (case-insensitive): @hourly "0 * * * *", @daily and @midnight
//   "0 0 * * *", @weekly "0 0 * * 0", @monthly "0 0 1 * *", @yearly and
//   @annually "0 0 1 1 *", and "@every DURATION" with the syntax of
//   duration.hpp ("@every 30s", "@every 1500ms"), at least 1 s.
//
// Time
//   Cron schedules run at whole minutes (seconds = 0) of UTC (the default) or
//   of the local time zone. In local time:
//   * Spring forward: a wall-clock time that does not exist that day is
//     skipped; the schedule runs at its next matching wall-clock time that
//     does exist. "30 2 * * *" does not run on the spring-forward day of
//     Europe/Berlin and runs at 02:30 the day after; "0 * * * *" runs at 01:00
//     and then 03:00, one real hour apart.
//   * Fall back: a matching wall-clock minute of the repeated hour runs once,
//     at its first occurrence. "30 2 * * *" runs at 02:30 summer time only;
//     "0 * * * *" runs at 02:00 summer time and then at 03:00 standard time,
//     two real hours apart.
//   The zone is assumed to change its UTC offset at most once within a day
//   of any given wall-clock time (true of every zone in use).
//   "@every D" runs at anchor + k * D for k >= 0, whatever the zone; runs are
//   computed from the anchor, never from the previous run, so they do not
//   drift with wake-up latency or run time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "libstamp/result.hpp"
#include "libstamp/timefmt.hpp"

namespace stamp {

enum class ScheduleZone { kUtc, kLocal };

struct ScheduleOptions {
  ScheduleZone zone = ScheduleZone::kUtc;
  // "@every D": the runs are anchor + k * D, k >= 0 (pass e.g. the daemon's
  // start time). The default, the Unix epoch, aligns runs to multiples of D
  // ("@every 30s" at :00 and :30 of every minute). Ignored by cron schedules.
  UnixNs anchor = 0;
};

// The parsed fields of a cron schedule as bit sets: bit v is set when value
// v matches.
struct CronFields {
  uint64_t minutes = 0;             // bits 0..59
  uint32_t hours = 0;               // bits 0..23
  uint32_t days = 0;                // bits 1..31
  uint16_t months = 0;              // bits 1..12
  uint8_t weekdays = 0;             // bits 0..6, 0 = Sunday (7 is folded into 0)
  bool daysRestricted = false;      // the day-of-month field is not "*"
  bool weekdaysRestricted = false;  // the day-of-week field is not "*"
  bool operator==(const CronFields&) const = default;
};

// A parsed schedule. Copyable, immutable.
class Schedule {
 public:
  // What next() returns when there is no run representable as UnixNs
  // (after the year 2262).
  static constexpr UnixNs kNever = std::numeric_limits<UnixNs>::max();
  static constexpr std::chrono::nanoseconds kMinEvery = std::chrono::seconds(1);

  // Parses a schedule string (leading and trailing blanks are ignored).
  // Fails with EINVAL and a message naming the field, the reason and the
  // 1-based column (in characters) within `text`, e.g.
  //   "minute field: 61 is out of range 0..59 (column 1)"
  //   "day-of-week field: range 'FRI-MON' is reversed (column 9)"
  //   "@every: duration '500ms' is shorter than the minimum 1s (column 8)"
  // The caller adds where `text` came from (file:line:column).
  static Result<Schedule> parse(std::string_view text, const ScheduleOptions& options = {});

  // The first run strictly after `after`, or kNever. Cron schedules skip by
  // field (month, day, hour, minute), so one call costs at most a few
  // hundred steps even for "0 0 29 2 *" across the years without a Feb 29.
  UnixNs next(UnixNs after) const;

  const std::string& text() const { return text_; }  // as written, trimmed
  ScheduleZone zone() const { return zone_; }
  bool isEvery() const { return every_.count() > 0; }
  std::chrono::nanoseconds every() const { return every_; }  // 0 for cron
  UnixNs anchor() const { return anchor_; }
  const CronFields& cron() const { return cron_; }  // all empty for @every

 private:
  Schedule() = default;
  UnixNs nextCron(UnixNs after) const;
  UnixNs nextEvery(UnixNs after) const;

  std::string text_;
  ScheduleZone zone_ = ScheduleZone::kUtc;
  CronFields cron_;
  std::chrono::nanoseconds every_{0};
  UnixNs anchor_ = 0;
};

// What `stampctl session list` shows of a scheduled entry.
struct ScheduleEntryInfo {
  std::string name;
  std::string schedule;  // Schedule::text()
  ScheduleZone zone = ScheduleZone::kUtc;
  std::chrono::nanoseconds splay{0};
  UnixNs nextRun = Schedule::kNever;      // the schedule's time plus this run's splay
  std::chrono::nanoseconds nextSplay{0};  // the random delay drawn for nextRun
  std::optional<UnixNs> lastStart;
  std::optional<UnixNs> lastEnd;
  bool running = false;
  uint64_t runs = 0;             // started() calls
  uint64_t skippedOverlaps = 0;  // runs skipped because the previous one still ran
};

// The run state of many named schedule entries, for one timerfd: the event
// loop arms the timer for nextWake(), calls due(now) when it fires, starts
// what due() returns and reports started()/finished().
//
// Rules
// * No replay: a new entry's first run is its schedule's next(now) (plus
//   splay); runs that fell while the daemon was down are not made up.
// * Each run gets a random delay in [0, splay], drawn from a generator seeded
//   at construction (the daemon seeds it from std::random_device), so a fleet
//   does not probe in lockstep, and a test with a fixed seed sees the same
//   delays every time, with any standard library (mt19937_64 is specified
//   exactly, and the uniform draw is our own). Keep the splay below the
//   schedule's period; a longer one makes runs skip slots.
// * When an entry's time has come, its next run is computed from `now`. So
//   a forward clock jump (or a late wake-up) runs each entry once, not once
//   per missed slot.
// * Overlap: if the entry is still running when its time comes, the run is
//   skipped and counted (skippedOverlaps), and the next computed from `now`.
// * Backward clock step (a `now` earlier than one seen before): every
//   entry's next run is recomputed from the new time, so the schedule
//   follows the clock at once instead of waiting for it to catch up; the one
//   slot an entry last ran (or skipped) is not repeated straight away, so a
//   small step back across a slot boundary does not run a slot twice. Slots
//   between the new time and that slot do run again as the clock passes them.
class Scheduler {
 public:
  explicit Scheduler(uint64_t seed) : rng_(seed) {}

  // Adds an entry; fails with EEXIST if the name is taken, EINVAL if splay is
  // negative. Its first run is schedule.next(now) plus splay.
  Result<void> add(const std::string& name, Schedule schedule, std::chrono::nanoseconds splay,
                   UnixNs now);
  // Replaces an entry's schedule and splay and recomputes its next run from
  // now; keeps its history (last run, counts, running). ENOENT if unknown.
  Result<void> update(const std::string& name, Schedule schedule, std::chrono::nanoseconds splay,
                      UnixNs now);
  // Forgets an entry, running or not (a later finished() then gets ENOENT).
  Result<void> remove(const std::string& name);

  // The entries whose time has come and which are not running, earliest
  // first (ties by name). Each entry whose time has come gets its next run;
  // a running one counts a skipped overlap instead. Calling due() again with
  // the same `now` returns nothing new. A returned entry's slot is used up
  // whether or not the caller manages to start it.
  std::vector<std::string> due(UnixNs now);

  // A run began / ended. started() fails with ENOENT for an unknown name and
  // EBUSY if the entry is already running; finished() with ENOENT, and with
  // EINVAL if it is not running.
  Result<void> started(const std::string& name, UnixNs now);
  Result<void> finished(const std::string& name, UnixNs now);

  // The earliest next run of all entries (for arming one timerfd), or
  // nullopt if there is none.
  std::optional<UnixNs> nextWake() const;

  std::optional<ScheduleEntryInfo> info(const std::string& name) const;
  std::vector<ScheduleEntryInfo> list() const;  // by name
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Schedule schedule;
    std::chrono::nanoseconds splay{0};
    UnixNs slot = Schedule::kNever;     // the schedule's time of the next run
    std::chrono::nanoseconds delay{0};  // splay drawn for it
    std::optional<UnixNs> lastSlot;     // the slot last run or skipped
    std::optional<UnixNs> lastStart;
    std::optional<UnixNs> lastEnd;
    bool running = false;
    uint64_t runs = 0;
    uint64_t skippedOverlaps = 0;
    UnixNs nextRun() const;
  };

  void observe(UnixNs now);  // detects a backward clock step
  void plan(Entry& e, UnixNs from);
  std::chrono::nanoseconds drawSplay(std::chrono::nanoseconds splay);
  static ScheduleEntryInfo infoOf(const std::string& name, const Entry& e);

  std::map<std::string, Entry> entries_;
  std::mt19937_64 rng_;
  std::optional<UnixNs> lastNow_;
};

}  // namespace stamp
