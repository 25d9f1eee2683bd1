#include "service/keys.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

#include <toml++/toml.h>

#include "service/config.hpp"
#include "libstamp/unique_fd.hpp"

namespace stamp {

namespace {

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// What a file that is not a regular one is, for the message refusing it.
std::string fileKind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISREG(mode)) return "a regular file";
  return "of an unknown type";
}

// The key file's text: a fixed buffer, wiped when it goes.
class SecretText {
 public:
  explicit SecretText(size_t n) : buf_(n) {}
  SecretText(const SecretText&) = delete;
  SecretText& operator=(const SecretText&) = delete;
  ~SecretText() { wipe(); }
  char* data() { return buf_.data(); }
  size_t size() const { return buf_.size(); }
  void wipe() { stamp::wipe(buf_.data(), buf_.size()); }

 private:
  std::vector<char> buf_;
};

// Wipes every string of a parsed table when it goes: the key file's
// secrets in toml++'s nodes (what toml++ allocated and freed while parsing
// is out of reach).
class StringWiper {
 public:
  explicit StringWiper(toml::table& t) : t_(t) {}
  StringWiper(const StringWiper&) = delete;
  StringWiper& operator=(const StringWiper&) = delete;
  ~StringWiper() { wipeNode(t_); }

 private:
  // Depth first with a stack of its own: the file decides how deep it is.
  static void wipeNode(toml::node& root) {
    std::vector<toml::node*> todo{&root};
    while (!todo.empty()) {
      toml::node* n = todo.back();
      todo.pop_back();
      if (auto* s = n->as_string()) {
        std::string& v = s->get();
        stamp::wipe(v.data(), v.capacity());
      } else if (auto* t = n->as_table()) {
        for (auto&& [k, v] : *t) todo.push_back(&v);
      } else if (auto* a = n->as_array()) {
        for (auto& v : *a) todo.push_back(&v);
      }
    }
  }
  toml::table& t_;
};

std::string where(const std::string& path, const toml::source_region& at) {
  std::ostringstream os;
  os << path << ":" << at.begin.line << ":" << at.begin.column << ": ";
  return os.str();
}

}  // namespace

KeyRing::~KeyRing() {
  for (auto& [name, k] : keys_) wipe(&k, sizeof(k));
}

const stamp_hmac_key* KeyRing::find(const std::string& name) const {
  auto it = keys_.find(name);
  return it == keys_.end() ? nullptr : &it->second;
}

std::vector<std::string> KeyRing::names() const {
  std::vector<std::string> v;
  for (const auto& kv : keys_) v.push_back(kv.first);
  return v;
}

void KeyRing::add(const std::string& name, std::span<const uint8_t> secret) {
  stamp_hmac_key k = hmacKey(secret);
  keys_[name] = k;
  wipe(&k, sizeof(k));
}

Result<std::string> keyFilePath(const std::string& configured) {
  static const std::string kCred = "credential:";
  if (configured.rfind(kCred, 0) != 0) return configured;
  std::string name = configured.substr(kCred.size());
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  if (name.empty() || name.find('/') != std::string::npos)
    return makeError(EINVAL, "key_file \"" + configured + "\": a credential name has no '/'");
  if (!dir || !*dir)
    return makeError(ENOENT, "key_file \"" + configured +
                                 "\": no CREDENTIALS_DIRECTORY (not started by systemd with "
                                 "LoadCredential=" +
                                 name + ":...)");
  return std::string(dir) + "/" + name;
}

Result<KeyRing> loadKeyFile(const std::string& configured) {
  auto path = keyFilePath(configured);
  if (!path) return path.error();
  // Only a regular file is read. Its type is checked before the open, so a
  // device is never opened (opening one can have effects), and again on the
  // descriptor, for a file swapped in between. O_NONBLOCK: a FIFO put there
  // in that window must not block the open (with no writer, forever) in
  // --check-config or in the event loop at a reload.
  struct stat before {};
  if (::lstat(path->c_str(), &before) != 0) return errnoError("cannot open key file " + *path);
  if (!S_ISREG(before.st_mode))
    return makeError(EINVAL, "key file " + *path + " is " + fileKind(before.st_mode) +
                                 ", not a regular file; refusing it");
  int fd = ::open(path->c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return errnoError("cannot open key file " + *path);
  UniqueFd file(fd);
  struct stat st {};
  if (fstat(fd, &st) != 0) return errnoError("cannot stat key file " + *path);
  if (!S_ISREG(st.st_mode) || st.st_dev != before.st_dev || st.st_ino != before.st_ino)
    return makeError(EINVAL, "key file " + *path + " was replaced while being opened (now " +
                                 fileKind(st.st_mode) + "); refusing it");
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", unsigned(st.st_mode & 07777));
    return makeError(EACCES, "key file " + *path + " is open to other users (mode " + mode +
                                 "); refusing it: chmod 600 " + *path);
  }
  if (st.st_uid != 0 && st.st_uid != geteuid())
    return makeError(EACCES, "key file " + *path + " belongs to uid " + std::to_string(st.st_uid) +
                                 ", neither root nor stampd's user; refusing it");
  if (st.st_size > kMaxKeyFileOctets)
    return makeError(EFBIG, "key file " + *path + " exceeds 1 MiB");
  // One buffer sized from the file before anything is read, never grown: a
  // growing string would leave copies of the secrets in freed memory. One
  // octet more than the size shows a file that grew meanwhile.
  SecretText text(size_t(st.st_size) + 1);
  size_t used = 0;
  while (used < text.size()) {
    ssize_t n = ::read(fd, text.data() + used, text.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errnoError("cannot read key file " + *path);
    if (n == 0) break;
    used += size_t(n);
  }
  if (used > size_t(st.st_size))
    return makeError(EAGAIN, "key file " + *path + " changed while being read; try again");

  // The same size and nesting limits as stamp.toml, before toml++ sees it.
  if (auto shape = checkTomlShape(std::string_view(text.data(), used), *path); !shape) {
    text.wipe();
    return shape.error();
  }
  KeyRing ring;
  ring.source_ = *path;
  std::string errors;
  try {
    toml::table root = toml::parse(std::string_view(text.data(), used), *path);
    text.wipe();
    // The table's copies of the hex strings are wiped when it goes, however
    // this block is left.
    StringWiper wiper(root);
    for (auto&& [k, v] : root) {
      if (k.str() != "keys")
        errors += where(*path, k.source()) + "unknown key '" + std::string(k.str()) +
                  "' (the file holds one [keys] table)\n";
    }
    if (auto* keys = root["keys"].as_table()) {
      for (auto&& [k, v] : *keys) {
        auto* s = v.as_string();
        if (!s) {
          errors += where(*path, v.source()) + "key '" + std::string(k.str()) +
                    "' must be a string of hex digits\n";
          continue;
        }
        const std::string& hex = s->get();
        std::vector<uint8_t> secret;
        secret.reserve(hex.size() / 2);  // never reallocated: no stray copies
        bool bad = hex.size() % 2 != 0;
        for (size_t i = 0; !bad && i < hex.size(); i += 2) {
          int hi = hexDigit(hex[i]), lo = hexDigit(hex[i + 1]);
          if (hi < 0 || lo < 0)
            bad = true;
          else
            secret.push_back(uint8_t(hi << 4 | lo));
        }
        if (bad)
          errors += where(*path, v.source()) + "key '" + std::string(k.str()) +
                    "' is not an even number of hex digits\n";
        else if (secret.size() < kMinKeyOctets || secret.size() > kMaxKeyOctets)
          errors += where(*path, v.source()) + "key '" + std::string(k.str()) + "' has " +
                    std::to_string(secret.size()) + " octets; 16 to 64 are accepted\n";
        else
          ring.add(std::string(k.str()), secret);
        wipe(secret.data(), secret.size());
      }
    } else if (root.contains("keys")) {
      errors += where(*path, root["keys"].node()->source()) + "[keys] must be a table\n";
    }
  } catch (const toml::parse_error& e) {
    text.wipe();
    // The parser's own words may quote the file, secrets included.
    (void)e.description();
    return makeError(EINVAL, where(*path, e.source()) +
                                 "not valid TOML (the parser's detail is withheld: it could "
                                 "quote a secret)");
  }
  if (!errors.empty()) {
    errors.pop_back();
    return makeError(EINVAL, errors);
  }
  return ring;
}

Result<KeyRing> keysFor(const Config& cfg) {
  std::vector<std::pair<std::string, std::string>> wanted;  // (who, key name)
  if (cfg.reflector.enabled && !cfg.reflector.authKey.empty())
    wanted.emplace_back("[reflector] auth_key", cfg.reflector.authKey);
  for (const auto& s : cfg.sessions)
    if (!s.authKey.empty()) wanted.emplace_back("session '" + s.name + "' auth_key", s.authKey);
  if (cfg.daemon.keyFile.empty()) {
    if (wanted.empty()) return KeyRing{};
    return makeError(EINVAL, cfg.path + ": " + wanted[0].first + " '" + wanted[0].second +
                                 "' needs [daemon] key_file, which is not set");
  }
  auto ring = loadKeyFile(cfg.daemon.keyFile);
  if (!ring) return ring.error();
  for (const auto& [who, name] : wanted)
    if (!ring->find(name))
      return makeError(EINVAL,
                       cfg.path + ": " + who + " '" + name + "' is not a key of " + ring->source());
  return ring;
}

}  // namespace stamp
