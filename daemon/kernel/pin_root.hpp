// The bpffs directory stampd pins under ([daemon] bpffs, by default
// /sys/fs/bpf/stamp): mounted if need be, created, and locked so that only
// one stampd owns it. Pins live in a subdirectory named after the ABI
// version (v1), so a stampd never adopts maps of another layout.
#pragma once

#include <string>

#include "libstamp/result.hpp"
#include "libstamp/unique_fd.hpp"

namespace stamp {

// ROOT/v<STAMP_ABI_VERSION>
std::string pinDirFor(const std::string& root);

// Mounts bpffs at /sys/fs/bpf when ROOT lies below it and it is not mounted
// (systemd mounts it on ordinary hosts), creates ROOT and the pin directory,
// and takes an exclusive flock on ROOT. Fails with EBUSY and a message when
// another process holds the lock.
Result<UniqueFd> lockPinRoot(const std::string& root);

}  // namespace stamp
