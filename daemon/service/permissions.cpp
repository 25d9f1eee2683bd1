#include "service/permissions.hpp"

#include <grp.h>

#include <algorithm>
#include <vector>

namespace stamp {

bool permitted(Access access, const PeerCredentials& peer, std::optional<gid_t> operatorGid) {
  if (access == Access::kRead || peer.uid == 0) return true;
  if (!operatorGid) return false;
  return peer.gid == *operatorGid ||
         std::find(peer.groups.begin(), peer.groups.end(), *operatorGid) != peer.groups.end();
}

std::optional<gid_t> groupId(const char* name) {
  group grp{}, *res = nullptr;
  std::vector<char> buf(16384);
  if (getgrnam_r(name, &grp, buf.data(), buf.size(), &res) != 0 || !res) return std::nullopt;
  return grp.gr_gid;
}

}  // namespace stamp
