#include "libstamp/control_args.hpp"

namespace stamp::control {
namespace {

using nlohmann::json;

// The value of an integer node as int64_t, nullopt beyond it: nlohmann
// keeps 2^63..2^64-1 as unsigned, and get<int64_t>() would wrap them.
std::optional<int64_t> asInt64(const json& v) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > uint64_t(range::kInt64Max)) return std::nullopt;
    return int64_t(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  return std::nullopt;
}

std::string typeName(const json& v) {
  if (v.is_number_float()) return "a float";
  if (v.is_number()) return "an integer";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_object()) return "an object";
  if (v.is_array()) return "an array";
  return "null";
}

std::string expected(const ArgSpec& a) {
  switch (a.type) {
    case ArgType::kString:
      return "a string";
    case ArgType::kBool:
      return "true or false";
    case ArgType::kObject:
      return "an object";
    case ArgType::kInteger:
      break;
  }
  return "an integer " + std::to_string(a.min) + ".." + std::to_string(a.max);
}

// One value against its entry; objects are the caller's.
Result<void> checkValue(const json& value, const ArgSpec& a, const std::string& name) {
  const std::string must = "\"" + name + "\" must be " + expected(a);
  bool ok = false;
  switch (a.type) {
    case ArgType::kString:
      ok = value.is_string();
      break;
    case ArgType::kBool:
      ok = value.is_boolean();
      break;
    case ArgType::kObject:
      ok = value.is_object();
      break;
    case ArgType::kInteger:
      if (!value.is_number_integer()) break;
      if (auto v = asInt64(value); !v || *v < a.min || *v > a.max)
        return makeError(EINVAL, must + ", not " + value.dump());
      ok = true;
      break;
  }
  if (!ok) return makeError(EINVAL, must + ", not " + typeName(value));
  return {};
}

// The keys of one object: known, each value of its type, the required
// ones there. `prefix` names the object ("" or "tlv_access_report.").
Result<void> checkKeys(const json& args, std::span<const ArgSpec> table,
                       const std::string& prefix) {
  for (const auto& [key, value] : args.items()) {
    const ArgSpec* a = findArg(table, key);
    if (!a) {
      std::string known;
      for (const ArgSpec& k : table) known += std::string(known.empty() ? "" : ", ") + k.key;
      return makeError(EINVAL,
                       "unknown argument \"" + prefix + key + "\"" +
                           (known.empty() ? " (none are taken)" : " (taken: " + known + ")"));
    }
    if (auto r = checkValue(value, *a, prefix + key); !r) return r;
  }
  for (const ArgSpec& a : table)
    if (a.required && !args.contains(a.key))
      return makeError(EINVAL, "\"" + prefix + a.key + "\" is required (" + expected(a) + ")");
  return {};
}

}  // namespace

// Two levels, written out: the tables nest objects one deep at most.
Result<void> checkArgs(const json& args, std::span<const ArgSpec> table) {
  if (!args.is_object()) return makeError(EINVAL, "\"args\" must be an object");
  if (auto r = checkKeys(args, table, ""); !r) return r;
  for (const ArgSpec& a : table) {
    if (a.type != ArgType::kObject || !args.contains(a.key)) continue;
    for (const ArgSpec& f : a.fields)
      if (f.type == ArgType::kObject)
        return makeError(EINVAL, std::string("\"") + a.key + "." + f.key +
                                     "\": objects nest one level at most (a bug in the table)");
    if (auto r = checkKeys(args[a.key], a.fields, std::string(a.key) + "."); !r) return r;
  }
  return {};
}

int64_t intArg(const json& args, const char* key, int64_t fallback) {
  if (!args.is_object()) return fallback;
  auto it = args.find(key);
  if (it == args.end()) return fallback;
  return asInt64(*it).value_or(fallback);
}

bool boolArg(const json& args, const char* key, bool fallback) {
  if (!args.is_object()) return fallback;
  auto it = args.find(key);
  return it != args.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

std::string stringArg(const json& args, const char* key, std::string fallback) {
  if (!args.is_object()) return fallback;
  auto it = args.find(key);
  return it != args.end() && it->is_string() ? it->get<std::string>() : fallback;
}

}  // namespace stamp::control
