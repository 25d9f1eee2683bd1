#include "kernel/pin_root.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <filesystem>

#include "stamp_abi.h"

namespace stamp {
namespace {
constexpr long kBpfFsMagic = 0xcafe4a11;
constexpr const char* kBpfMount = "/sys/fs/bpf";

// Set by lockPinRoot() when it mounted kBpfMount.
bool gMounted = false;

bool onBpffs(const std::string& path) {
  struct statfs st {};
  return statfs(path.c_str(), &st) == 0 && st.f_type == kBpfFsMagic;
}

// The exclusive, non-blocking flock on an existing ROOT.
Result<UniqueFd> lockRoot(const std::string& root) {
  if (!onBpffs(root))
    return makeError(ENOTSUP, root + " is not on a bpffs: programs cannot be pinned there");
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errnoError("cannot open " + root);
  UniqueFd owner(fd);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      return makeError(EBUSY, "another stampd is running with bpffs " + root +
                                  " (its lock is held); stop it first");
    return errnoError("cannot lock " + root);
  }
  return owner;
}
}  // namespace

std::string pinDirFor(const std::string& root) {
  return root + "/" STAMP_PIN_SUBDIR;
}

std::string linkPinPrefix(const std::string& pinDir, const std::string& ifname) {
  return pinDir + "/" STAMP_PIN_LINK_PREFIX + ifname;
}

std::string linkPinInterface(const std::string& name, const std::string& suffix) {
  const std::string prefix = STAMP_PIN_LINK_PREFIX;
  if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return {};
  return name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
}

Result<UniqueFd> lockPinRoot(const std::string& root) {
  if (root.rfind(std::string(kBpfMount) + "/", 0) == 0 && !onBpffs(kBpfMount)) {
    std::error_code ec;
    std::filesystem::create_directories(kBpfMount, ec);
    // The options systemd mounts it with at boot (see systemd/stampd.service.in).
    if (mount("bpffs", kBpfMount, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") != 0)
      return errnoError(std::string("cannot mount bpffs at ") + kBpfMount);
    gMounted = true;
  }
  std::error_code ec;
  std::filesystem::create_directories(pinDirFor(root), ec);
  if (ec) return makeError(ec.value(), "cannot create " + pinDirFor(root) + ": " + ec.message());
  return lockRoot(root);
}

std::optional<std::string> mountedBpffs() {
  if (!gMounted) return std::nullopt;
  return std::string(kBpfMount);
}

Result<std::optional<UniqueFd>> lockExistingPinRoot(const std::string& root) {
  std::error_code ec;
  if (!std::filesystem::is_directory(root, ec)) {
    if (ec && ec != std::errc::no_such_file_or_directory)
      return makeError(ec.value(), "cannot read " + root + ": " + ec.message());
    return std::optional<UniqueFd>{};
  }
  auto lock = lockRoot(root);
  if (!lock) return lock.error();
  return std::optional<UniqueFd>(std::move(*lock));
}

}  // namespace stamp
