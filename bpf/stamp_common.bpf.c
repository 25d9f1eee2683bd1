/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps every stampd BPF object has: linked into the reflector's object
 * and into the sender's (bpf/CMakeLists.txt), so each has its own copy,
 * defined once here. Declared in stamp_parse.bpf.h (stamp_config) and
 * stamp_auth.bpf.h (stamp_auth_work).
 */
#include "stamp_auth.bpf.h"

struct stamp_config_map stamp_config SEC(".maps");
struct stamp_auth_work_map stamp_auth_work SEC(".maps");
