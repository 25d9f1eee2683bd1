// Who may run which control command. Reading is open to anyone who can
// connect to the socket (its mode already limits that); changing anything
// needs root or membership of the stamp group, checked against the
// client's SO_PEERCRED credentials.
#pragma once

#include <sys/types.h>

#include <optional>
#include <vector>

namespace stamp {

enum class Access {
  kRead,    // status, session list/show, results
  kMutate,  // session start/stop, reload
};

struct PeerCredentials {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups
};

// The group whose members may mutate.
inline constexpr const char* kOperatorGroup = "stamp";

// Whether `peer` may run a command of `access`. `operatorGid` is the gid of
// kOperatorGroup, or nullopt when the group does not exist (then only root
// may mutate).
bool permitted(Access access, const PeerCredentials& peer, std::optional<gid_t> operatorGid);

// The gid of a group by name, nullopt if there is none (or on error).
std::optional<gid_t> groupId(const char* name);

}  // namespace stamp
