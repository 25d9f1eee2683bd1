// The bpffs directory stampd pins under ([daemon] bpffs, by default
// /sys/fs/bpf/stamp): mounted if need be, created, and locked so that only
// one stampd owns it. Pins live in a subdirectory named after the ABI
// version (v1), so a stampd never adopts maps of another layout. Every pin
// name comes from bpf/stamp_abi.h (STAMP_PIN_*, STAMP_MAP_*).
#pragma once

#include <optional>
#include <string>

#include "libstamp/result.hpp"
#include "libstamp/unique_fd.hpp"

namespace stamp {

// ROOT/v<STAMP_ABI_VERSION> (STAMP_PIN_SUBDIR)
std::string pinDirFor(const std::string& root);

// PIN_DIR/link_IFNAME: the prefix of the pins of one interface's attachment,
// to which TcAttachment appends STAMP_PIN_LINK_IN, STAMP_PIN_LINK_OUT and
// its markers.
std::string linkPinPrefix(const std::string& pinDir, const std::string& ifname);

// The interface whose attachment pin `name` (a file name in the pin
// directory) is, when it ends in `suffix` (one of STAMP_PIN_LINK_IN,
// STAMP_PIN_LINK_OUT, STAMP_PIN_MARK_TC, STAMP_PIN_MARK_CLSACT); "" when it
// is not such a pin.
std::string linkPinInterface(const std::string& name, const std::string& suffix);

// Mounts bpffs at /sys/fs/bpf when ROOT lies below it and it is not mounted
// (systemd mounts it on ordinary hosts, but a machine without systemd or a
// container may not have it), creates ROOT and the pin directory, and takes
// an exclusive flock on ROOT. Fails with EBUSY and a message when another
// process holds the lock. Logs nothing: a mount it made is reported by
// mountedBpffs(), so that a start which fails later prints its error alone.
Result<UniqueFd> lockPinRoot(const std::string& root);

// Where lockPinRoot() mounted bpffs in this process, if it did.
std::optional<std::string> mountedBpffs();

// For `stampd --teardown`: the lock of lockPinRoot() on a ROOT that already
// exists, mounting and creating nothing. Empty when ROOT does not exist (on
// a freshly booted machine without bpffs, say): then nothing is pinned.
Result<std::optional<UniqueFd>> lockExistingPinRoot(const std::string& root);

}  // namespace stamp
