#include "sender/schedule.hpp"

#include <ctime>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <utility>

#include "libstamp/duration.hpp"

namespace stamp {
namespace {

constexpr int64_t kSecPerDay = 86'400;
// The longest stretch without a match of a schedule that passed parse():
// "0 0 29 2 *" from 2096-03-01 to 2104-02-29, just under 8 years.
constexpr int kSearchYears = 10;
constexpr const char* kFiveFields = "a cron schedule has five fields: MIN HOUR DOM MON DOW";

int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && (a < 0) != (b < 0)) --q;
  return q;
}

bool isBlank(char c) {
  return c == ' ' || c == '\t';
}
bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
bool isAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
char upper(char c) {
  return (c >= 'a' && c <= 'z') ? char(c - 'a' + 'A') : c;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (upper(a[i]) != upper(b[i])) return false;
  return true;
}

// ---- Parsing -------------------------------------------------------------

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames = {"SUN", "MON", "TUE", "WED",
                                                       "THU", "FRI", "SAT"};

struct Field {
  const char* what;  // as errors name it
  int lo;
  int hi;
  const std::string_view* names;  // nullptr, or the names of lo, lo + 1, ...
  size_t nameCount;
  const char* nameKind;
};

constexpr std::array<Field, 5> kFields = {{
    {"minute field", 0, 59, nullptr, 0, ""},
    {"hour field", 0, 23, nullptr, 0, ""},
    {"day-of-month field", 1, 31, nullptr, 0, ""},
    {"month field", 1, 12, kMonthNames.data(), kMonthNames.size(), "month"},
    {"day-of-week field", 0, 7, kDayNames.data(), kDayNames.size(), "day"},
}};

struct Macro {
  std::string_view name;
  std::string_view cron;
};
constexpr std::array<Macro, 7> kMacros = {{{"@hourly", "0 * * * *"},
                                           {"@daily", "0 0 * * *"},
                                           {"@midnight", "0 0 * * *"},
                                           {"@weekly", "0 0 * * 0"},
                                           {"@monthly", "0 0 1 * *"},
                                           {"@yearly", "0 0 1 1 *"},
                                           {"@annually", "0 0 1 1 *"}}};

// Positions are byte offsets into the whole text; columns count characters
// (UTF-8 code points) from 1, as an editor shows them.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  std::string_view text() const { return text_; }

  Error error(std::string_view what, size_t pos, const std::string& reason) const {
    return makeError(EINVAL, std::string(what) + ": " + reason + " (column " +
                                 std::to_string(column(pos)) + ")");
  }

  // The text in single quotes, control bytes as \xNN, long text cut short.
  std::string quoted(size_t begin, size_t end) const {
    constexpr size_t kMax = 32;
    std::string out = "'";
    bool cut = end - begin > kMax;
    if (cut) {
      end = begin + kMax;
      while (end > begin && (static_cast<unsigned char>(text_[end]) & 0xC0) == 0x80) --end;
    }
    for (size_t i = begin; i < end; ++i) {
      auto c = static_cast<unsigned char>(text_[i]);
      if (c < 0x20 || c == 0x7F) {
        constexpr char kHex[] = "0123456789abcdef";
        out += "\\x";
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
      } else {
        out += char(c);
      }
    }
    return out + (cut ? "...'" : "'");
  }
  // The one character (code point) at pos, quoted.
  std::string quotedChar(size_t pos) const {
    size_t end = pos + 1;
    while (end < text_.size() && (static_cast<unsigned char>(text_[end]) & 0xC0) == 0x80) ++end;
    return quoted(pos, end);
  }

  Result<CronFields> cron(size_t begin, size_t end) const;

 private:
  size_t column(size_t pos) const {
    size_t col = 1;
    for (size_t i = 0; i < pos && i < text_.size(); ++i)
      if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++col;
    if (pos > text_.size()) col += pos - text_.size();
    return col;
  }

  Result<uint64_t> field(const Field& f, size_t begin, size_t end) const;
  Result<int> value(const Field& f, size_t& p, size_t end, const std::string& expected) const;

  std::string_view text_;
};

// A number as written, capped well above any field's range so that long
// digit strings cannot overflow.
int64_t digitsValue(std::string_view digits) {
  int64_t v = 0;
  for (char c : digits) v = std::min<int64_t>(v * 10 + (c - '0'), 1'000'000'000);
  return v;
}

Result<int> Parser::value(const Field& f, size_t& p, size_t end,
                          const std::string& expected) const {
  size_t b = p;
  if (p < end && isDigit(text_[p])) {
    while (p < end && isDigit(text_[p])) ++p;
    std::string_view digits = text_.substr(b, p - b);
    int64_t v = digitsValue(digits);
    if (v < f.lo || v > f.hi)
      return error(f.what, b,
                   std::string(digits) + " is out of range " + std::to_string(f.lo) + ".." +
                       std::to_string(f.hi));
    return int(v);
  }
  if (p < end && isAlpha(text_[p])) {
    while (p < end && isAlpha(text_[p])) ++p;
    std::string_view word = text_.substr(b, p - b);
    if (f.names == nullptr) return error(f.what, b, quoted(b, p) + " is not a number");
    for (size_t i = 0; i < f.nameCount; ++i)
      if (equalsIgnoreCase(word, f.names[i])) return f.lo + int(i);
    return error(f.what, b,
                 "unknown " + std::string(f.nameKind) + " name " + quoted(b, p) + "; expected " +
                     std::string(f.names[0]) + ".." + std::string(f.names[f.nameCount - 1]));
  }
  if (p == end) return error(f.what, p, "missing " + expected);
  return error(f.what, p, "expected " + expected + ", found " + quotedChar(p));
}

Result<uint64_t> Parser::field(const Field& f, size_t begin, size_t end) const {
  const std::string number =
      f.names ? "a number or a " + std::string(f.nameKind) + " name" : std::string("a number");
  uint64_t mask = 0;
  size_t p = begin;
  for (;;) {
    if (p == end || text_[p] == ',') return error(f.what, p, "empty list element");
    size_t item = p;
    int lo = f.lo;
    int hi = f.hi;
    bool single = false;
    if (text_[p] == '*') {
      ++p;
    } else {
      auto first = value(f, p, end, number + " or '*'");
      if (!first) return first.error();
      lo = hi = *first;
      single = true;
      if (p < end && text_[p] == '-') {
        ++p;
        auto last = value(f, p, end, number + " after '-'");
        if (!last) return last.error();
        if (*last < lo) return error(f.what, item, "range " + quoted(item, p) + " is reversed");
        hi = *last;
        single = false;
      }
    }
    int step = 1;
    if (p < end && text_[p] == '/') {
      ++p;
      size_t b = p;
      while (p < end && isDigit(text_[p])) ++p;
      if (p == b) {
        if (p == end) return error(f.what, p, "missing step after '/'");
        return error(f.what, p, "expected a step number after '/', found " + quotedChar(p));
      }
      int64_t s = digitsValue(text_.substr(b, p - b));
      if (s == 0) return error(f.what, b, "step must be at least 1");
      if (s > f.hi - f.lo)
        return error(f.what, b,
                     "step " + std::string(text_.substr(b, p - b)) + " is out of range 1.." +
                         std::to_string(f.hi - f.lo));
      step = int(s);
      if (single) hi = f.hi;  // "3/15" is "3-max/15"
    }
    for (int v = lo; v <= hi; v += step) mask |= uint64_t{1} << v;
    if (p == end) return mask;
    if (text_[p] != ',') return error(f.what, p, "unexpected " + quotedChar(p));
    ++p;
  }
}

Result<CronFields> Parser::cron(size_t begin, size_t end) const {
  std::vector<std::pair<size_t, size_t>> tokens;
  for (size_t p = begin; p < end;) {
    while (p < end && isBlank(text_[p])) ++p;
    size_t b = p;
    while (p < end && !isBlank(text_[p])) ++p;
    if (p > b) tokens.emplace_back(b, p);
  }
  if (tokens.size() > kFields.size()) {
    auto [b, e] = tokens[kFields.size()];
    return error("schedule", b, "extra field " + quoted(b, e) + "; " + kFiveFields);
  }
  if (tokens.size() < kFields.size())
    return error(kFields[tokens.size()].what, end, std::string("missing; ") + kFiveFields);

  std::array<uint64_t, 5> masks{};
  for (size_t i = 0; i < kFields.size(); ++i) {
    auto m = field(kFields[i], tokens[i].first, tokens[i].second);
    if (!m) return m.error();
    masks[i] = *m;
  }
  auto isStar = [&](size_t i) {
    return tokens[i].second - tokens[i].first == 1 && text_[tokens[i].first] == '*';
  };
  CronFields c;
  c.minutes = masks[0];
  c.hours = uint32_t(masks[1]);
  c.days = uint32_t(masks[2]);
  c.months = uint16_t(masks[3]);
  c.weekdays = uint8_t((masks[4] | (masks[4] >> 7)) & 0x7F);  // 7 is Sunday too
  c.daysRestricted = !isStar(2);
  c.weekdaysRestricted = !isStar(4);

  // Only the day of month decides the day: it must occur in some month.
  if (c.daysRestricted && !c.weekdaysRestricted) {
    constexpr int kLongest[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool possible = false;
    for (int m = 1; m <= 12; ++m)
      if ((c.months >> m & 1) && (c.days & ((uint64_t{2} << kLongest[m]) - 2)) != 0)
        possible = true;
    if (!possible)
      return error(kFields[2].what, tokens[2].first,
                   "never matches: none of its days occurs in the months of the month field");
  }
  return c;
}

// ---- Civil time ----------------------------------------------------------

// A wall-clock minute: a civil date and time, without a zone.
struct Wall {
  int year;
  int month;  // 1..12
  int day;    // 1..31
  int hour;
  int minute;
};

std::chrono::year_month_day ymdOf(const Wall& w) {
  return std::chrono::year{w.year} / std::chrono::month{unsigned(w.month)} /
         std::chrono::day{unsigned(w.day)};
}

int daysInMonth(int y, int m) {
  using namespace std::chrono;
  return int(unsigned(year_month_day_last{year{y}, month_day_last{month{unsigned(m)}}}.day()));
}

// The wall time read as UTC, in seconds since the epoch.
int64_t wallSeconds(const Wall& w) {
  int64_t days = std::chrono::sys_days{ymdOf(w)}.time_since_epoch().count();
  return days * kSecPerDay + int64_t{w.hour} * 3600 + int64_t{w.minute} * 60;
}

Wall wallOfSeconds(int64_t s) {
  int64_t days = floorDiv(s, kSecPerDay);
  int64_t rem = s - days * kSecPerDay;
  std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{days}}};
  return Wall{int(ymd.year()), int(unsigned(ymd.month())), int(unsigned(ymd.day())),
              int(rem / 3600), int(rem % 3600 / 60)};
}

// The first set bit at or above `from`, or -1.
int firstBitFrom(uint64_t mask, int from) {
  if (from >= 64) return -1;
  uint64_t m = mask >> from;
  return m == 0 ? -1 : from + std::countr_zero(m);
}

void toNextMonth(const CronFields& c, Wall& w) {
  w.day = 1;
  w.hour = 0;
  w.minute = 0;
  int m = firstBitFrom(c.months, w.month + 1);
  if (m < 0) {
    ++w.year;
    m = firstBitFrom(c.months, 1);
  }
  w.month = m;
}

void toNextDay(Wall& w) {
  w.hour = 0;
  w.minute = 0;
  if (++w.day > daysInMonth(w.year, w.month)) {
    w.day = 1;
    if (++w.month > 12) {
      w.month = 1;
      ++w.year;
    }
  }
}

void toNextMinute(Wall& w) {
  if (++w.minute < 60) return;
  w.minute = 0;
  if (++w.hour < 24) return;
  toNextDay(w);
}

bool dayMatches(const CronFields& c, const Wall& w) {
  bool dom = c.days >> w.day & 1;
  unsigned wd = std::chrono::weekday{std::chrono::sys_days{ymdOf(w)}}.c_encoding();
  bool dow = c.weekdays >> wd & 1;
  if (c.daysRestricted && c.weekdaysRestricted) return dom || dow;
  return dom && dow;
}

// The first wall-clock minute at or after `from` that the fields match,
// skipping whole months, days and hours that cannot match.
std::optional<Wall> nextMatch(const CronFields& c, Wall w, int lastYear) {
  if (c.months == 0) return std::nullopt;
  while (w.year <= lastYear) {
    if (!(c.months >> w.month & 1)) {
      toNextMonth(c, w);
      continue;
    }
    if (!dayMatches(c, w)) {
      toNextDay(w);
      continue;
    }
    int h = firstBitFrom(c.hours, w.hour);
    if (h < 0) {
      toNextDay(w);
      continue;
    }
    if (h != w.hour) {
      w.hour = h;
      w.minute = 0;
    }
    int m = firstBitFrom(c.minutes, w.minute);
    if (m < 0) {
      w.minute = 59;
      toNextMinute(w);
      continue;
    }
    w.minute = m;
    return w;
  }
  return std::nullopt;
}

// The local zone's UTC offset at t, in seconds.
std::optional<int64_t> utcOffsetAt(int64_t t) {
  time_t tt = time_t(t);
  struct tm tm {};
  if (localtime_r(&tt, &tm) == nullptr) return std::nullopt;
  return int64_t(tm.tm_gmtoff);
}

// The first instant at which the local wall clock reads `w`, or nullopt if
// it never does (a spring-forward gap). An instant t shows w when
// t + offset(t) == wallSeconds(w); the candidate offsets are those in force
// a day either side, which include both sides of any offset change near w.
std::optional<int64_t> firstLocalInstant(const Wall& w) {
  int64_t local = wallSeconds(w);
  std::optional<int64_t> best;
  std::array<std::optional<int64_t>, 3> offsets = {
      utcOffsetAt(local - kSecPerDay), utcOffsetAt(local), utcOffsetAt(local + kSecPerDay)};
  for (size_t i = 0; i < offsets.size(); ++i) {
    if (!offsets[i]) continue;
    if (std::find(offsets.begin(), offsets.begin() + i, offsets[i]) != offsets.begin() + i)
      continue;
    int64_t t = local - *offsets[i];
    if (utcOffsetAt(t) == offsets[i] && (!best || t < *best)) best = t;
  }
  return best;
}

Wall localWallOf(int64_t t, bool& ok) {
  time_t tt = time_t(t);
  struct tm tm {};
  ok = localtime_r(&tt, &tm) != nullptr;
  return Wall{tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min};
}

UnixNs secondsToNs(int64_t s) {
  if (s > Schedule::kNever / kNsPerSec) return Schedule::kNever;
  return s * kNsPerSec;
}

}  // namespace

// ---- Schedule ------------------------------------------------------------

Result<Schedule> Schedule::parse(std::string_view text, const ScheduleOptions& options) {
  Parser parser(text);
  size_t b = 0;
  size_t e = text.size();
  while (b < e && isBlank(text[b])) ++b;
  while (e > b && isBlank(text[e - 1])) --e;
  if (b == e)
    return parser.error("schedule", 0,
                        "empty; expected five cron fields (MIN HOUR DOM MON DOW) or a macro "
                        "such as @daily or @every 30s");

  Schedule s;
  s.text_ = std::string(text.substr(b, e - b));
  s.zone_ = options.zone;
  if (text[b] != '@') {
    auto c = parser.cron(b, e);
    if (!c) return c.error();
    s.cron_ = *c;
    return s;
  }

  size_t p = b;
  while (p < e && !isBlank(text[p])) ++p;
  std::string_view name = text.substr(b, p - b);
  size_t arg = p;
  while (arg < e && isBlank(text[arg])) ++arg;

  if (equalsIgnoreCase(name, "@every")) {
    if (arg == e) return parser.error("@every", p, "missing duration, e.g. '@every 30s'");
    size_t argEnd = arg;
    while (argEnd < e && !isBlank(text[argEnd])) ++argEnd;
    if (argEnd != e) {
      size_t extra = argEnd;
      while (isBlank(text[extra])) ++extra;
      return parser.error("@every", extra,
                          "unexpected " + parser.quoted(extra, e) + " after the duration");
    }
    auto d = parseDuration(text.substr(arg, e - arg));
    if (!d)
      return parser.error("@every", arg,
                          "invalid duration " + parser.quoted(arg, e) +
                              "; expected a whole number and a unit (ns, us, ms, s, m, h), "
                              "e.g. 30s");
    if (*d < kMinEvery)
      return parser.error("@every", arg,
                          "duration " + parser.quoted(arg, e) + " is shorter than the minimum " +
                              formatDuration(kMinEvery));
    s.every_ = *d;
    s.anchor_ = options.anchor;
    return s;
  }

  for (const Macro& m : kMacros) {
    if (!equalsIgnoreCase(name, m.name)) continue;
    if (arg != e)
      return parser.error(m.name, arg,
                          "unexpected " + parser.quoted(arg, e) + "; the macro takes no argument");
    auto c = Parser(m.cron).cron(0, m.cron.size());
    if (!c) return c.error();  // not reached: the expansions are valid
    s.cron_ = *c;
    return s;
  }
  return parser.error("schedule", b,
                      "unknown macro " + parser.quoted(b, p) +
                          "; expected @hourly, @daily, @midnight, @weekly, @monthly, @yearly, "
                          "@annually or @every DURATION");
}

UnixNs Schedule::next(UnixNs after) const {
  return isEvery() ? nextEvery(after) : nextCron(after);
}

UnixNs Schedule::nextEvery(UnixNs after) const {
  if (after < anchor_) return anchor_;
  // Unsigned arithmetic: after - anchor_ and the room left above anchor_
  // both fit in 64 bits even when the signed values would overflow.
  uint64_t d = uint64_t(every_.count());
  uint64_t k = (uint64_t(after) - uint64_t(anchor_)) / d + 1;
  if (k > UINT64_MAX / d) return kNever;
  uint64_t offset = k * d;
  if (offset > uint64_t(kNever) - uint64_t(anchor_)) return kNever;
  return UnixNs(uint64_t(anchor_) + offset);
}

UnixNs Schedule::nextCron(UnixNs after) const {
  int64_t sec = floorDiv(after, kNsPerSec);
  Wall from;
  if (zone_ == ScheduleZone::kUtc) {
    from = wallOfSeconds(floorDiv(sec, 60) * 60);
  } else {
    bool ok = false;
    from = localWallOf(sec, ok);
    if (!ok) return kNever;
  }
  toNextMinute(from);
  const int lastYear = from.year + kSearchYears;
  for (;;) {
    std::optional<Wall> w = nextMatch(cron_, from, lastYear);
    if (!w) return kNever;
    std::optional<int64_t> t = zone_ == ScheduleZone::kUtc ? std::optional<int64_t>(wallSeconds(*w))
                                                           : firstLocalInstant(*w);
    // Not existing (spring forward), or a repeated wall time whose first
    // occurrence has passed (fall back): try the next matching minute.
    if (t && *t > sec) return secondsToNs(*t);
    from = *w;
    toNextMinute(from);
  }
}

// ---- Scheduler -----------------------------------------------------------

UnixNs Scheduler::Entry::nextRun() const {
  if (slot == Schedule::kNever) return Schedule::kNever;
  if (delay.count() > Schedule::kNever - slot) return Schedule::kNever;
  return slot + delay.count();
}

std::chrono::nanoseconds Scheduler::drawSplay(std::chrono::nanoseconds splay) {
  if (splay.count() <= 0) return std::chrono::nanoseconds(0);
  // Uniform in [0, splay]: reject the 2^64 mod range lowest draws so that
  // every remainder is equally likely.
  uint64_t range = uint64_t(splay.count()) + 1;
  uint64_t reject = (0 - range) % range;
  uint64_t x = 0;
  do x = rng_();
  while (x < reject);
  return std::chrono::nanoseconds(int64_t(x % range));
}

void Scheduler::plan(Entry& e, UnixNs from) {
  e.slot = e.schedule.next(from);
  if (e.slot != Schedule::kNever && e.lastSlot && e.slot == *e.lastSlot)
    e.slot = e.schedule.next(e.slot);
  e.delay = e.slot == Schedule::kNever ? std::chrono::nanoseconds(0) : drawSplay(e.splay);
}

void Scheduler::observe(UnixNs now) {
  if (lastNow_ && now < *lastNow_)
    for (auto& [name, e] : entries_) plan(e, now);
  lastNow_ = now;
}

Result<void> Scheduler::add(const std::string& name, Schedule schedule,
                            std::chrono::nanoseconds splay, UnixNs now) {
  if (splay.count() < 0)
    return makeError(
        EINVAL, "schedule entry '" + name + "': splay " + formatDuration(splay) + " is negative");
  if (entries_.contains(name))
    return makeError(EEXIST, "schedule entry '" + name + "' already exists");
  observe(now);
  Entry e{std::move(schedule)};
  e.splay = splay;
  plan(e, now);
  entries_.emplace(name, std::move(e));
  return {};
}

Result<void> Scheduler::update(const std::string& name, Schedule schedule,
                               std::chrono::nanoseconds splay, UnixNs now) {
  if (splay.count() < 0)
    return makeError(
        EINVAL, "schedule entry '" + name + "': splay " + formatDuration(splay) + " is negative");
  auto it = entries_.find(name);
  if (it == entries_.end()) return makeError(ENOENT, "no schedule entry '" + name + "'");
  observe(now);
  it->second.schedule = std::move(schedule);
  it->second.splay = splay;
  plan(it->second, now);
  return {};
}

Result<void> Scheduler::remove(const std::string& name) {
  if (entries_.erase(name) == 0) return makeError(ENOENT, "no schedule entry '" + name + "'");
  return {};
}

std::vector<std::string> Scheduler::due(UnixNs now) {
  observe(now);
  std::vector<std::pair<UnixNs, std::map<std::string, Entry>::iterator>> ready;
  for (auto it = entries_.begin(); it != entries_.end(); ++it)
    if (it->second.nextRun() != Schedule::kNever && it->second.nextRun() <= now)
      ready.emplace_back(it->second.nextRun(), it);
  // Stable: entries with the same time stay in name order.
  std::stable_sort(ready.begin(), ready.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> names;
  for (auto& [when, it] : ready) {
    Entry& e = it->second;
    e.lastSlot = e.slot;
    if (e.running)
      ++e.skippedOverlaps;
    else
      names.push_back(it->first);
    plan(e, now);
  }
  return names;
}

Result<void> Scheduler::started(const std::string& name, UnixNs now) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return makeError(ENOENT, "no schedule entry '" + name + "'");
  if (it->second.running)
    return makeError(EBUSY, "schedule entry '" + name + "' is already running");
  observe(now);
  it->second.running = true;
  it->second.lastStart = now;
  ++it->second.runs;
  return {};
}

Result<void> Scheduler::finished(const std::string& name, UnixNs now) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return makeError(ENOENT, "no schedule entry '" + name + "'");
  if (!it->second.running) return makeError(EINVAL, "schedule entry '" + name + "' is not running");
  observe(now);
  it->second.running = false;
  it->second.lastEnd = now;
  return {};
}

std::optional<UnixNs> Scheduler::nextWake() const {
  UnixNs earliest = Schedule::kNever;
  for (const auto& [name, e] : entries_) earliest = std::min(earliest, e.nextRun());
  if (earliest == Schedule::kNever) return std::nullopt;
  return earliest;
}

ScheduleEntryInfo Scheduler::infoOf(const std::string& name, const Entry& e) {
  ScheduleEntryInfo i;
  i.name = name;
  i.schedule = e.schedule.text();
  i.zone = e.schedule.zone();
  i.splay = e.splay;
  i.nextRun = e.nextRun();
  i.nextSplay = e.delay;
  i.lastStart = e.lastStart;
  i.lastEnd = e.lastEnd;
  i.running = e.running;
  i.runs = e.runs;
  i.skippedOverlaps = e.skippedOverlaps;
  return i;
}

std::optional<ScheduleEntryInfo> Scheduler::info(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  return infoOf(it->first, it->second);
}

std::vector<ScheduleEntryInfo> Scheduler::list() const {
  std::vector<ScheduleEntryInfo> out;
  out.reserve(entries_.size());
  for (const auto& [name, e] : entries_) out.push_back(infoOf(name, e));
  return out;
}

}  // namespace stamp
