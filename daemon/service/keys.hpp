// The key file of authenticated mode ([daemon] key_file): named HMAC keys,
//
//   [keys]
//   k1 = "hex secret, 16 to 64 octets"
//
// stampd refuses a file that other users could read or write, or that
// belongs to someone else; "credential:NAME" names a systemd credential
// ($CREDENTIALS_DIRECTORY/NAME, LoadCredential= in the unit). Secrets stay
// in memory only as long as the KeyRing lives, are wiped when it goes, and
// never reach a log line, a status reply or an error message.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "libstamp/hmac.hpp"
#include "libstamp/result.hpp"

namespace stamp {

inline constexpr size_t kMinKeyOctets = 16;
inline constexpr size_t kMaxKeyOctets = 64;
inline constexpr off_t kMaxKeyFileOctets = off_t{1} << 20;

class KeyRing {
 public:
  KeyRing() = default;
  KeyRing(const KeyRing&) = delete;
  KeyRing& operator=(const KeyRing&) = delete;
  KeyRing(KeyRing&&) = default;
  KeyRing& operator=(KeyRing&&) = default;
  ~KeyRing();

  // The midstates of key `name`, or nullptr.
  const stamp_hmac_key* find(const std::string& name) const;
  bool empty() const { return keys_.empty(); }
  std::vector<std::string> names() const;
  // Where the keys came from (for messages; never the keys).
  const std::string& source() const { return source_; }

  void add(const std::string& name, std::span<const uint8_t> secret);

 private:
  friend Result<KeyRing> loadKeyFile(const std::string& configured);
  std::map<std::string, stamp_hmac_key> keys_;
  std::string source_;
};

// The file's real path: "credential:NAME" resolved, others as they are.
Result<std::string> keyFilePath(const std::string& configured);

// Reads and checks the key file: a regular file (a FIFO, device, directory
// or symbolic link is refused without blocking), at most 1 MiB. Errors name
// FILE:LINE:COLUMN for what is wrong inside, and the type, mode or owner for
// what is wrong outside. The text read and the parsed hex strings are wiped
// before it returns.
Result<KeyRing> loadKeyFile(const std::string& configured);

struct Config;
// The key file of `cfg` if it has one, checked to hold every key the
// configuration names (reflector and sessions); an empty ring when neither
// is set.
Result<KeyRing> keysFor(const Config& cfg);

}  // namespace stamp
