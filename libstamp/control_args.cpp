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

Result<void> check(const json& args, std::span<const ArgSpec> table, const std::string& prefix) {
  if (!args.is_object())
    return makeError(EINVAL, prefix.empty() ? std::string("\"args\" must be an object")
                                            : "\"" + prefix.substr(0, prefix.size() - 1) +
                                                  "\" must be an object");
  for (const auto& [key, value] : args.items()) {
    const ArgSpec* a = findArg(table, key);
    const std::string name = prefix + key;
    if (!a) {
      std::string known;
      for (const ArgSpec& k : table) known += std::string(known.empty() ? "" : ", ") + k.key;
      return makeError(EINVAL,
                       "unknown argument \"" + name + "\"" +
                           (known.empty() ? " (none are taken)" : " (taken: " + known + ")"));
    }
    const std::string must = "\"" + name + "\" must be " + expected(*a);
    switch (a->type) {
      case ArgType::kString:
        if (!value.is_string()) return makeError(EINVAL, must + ", not " + typeName(value));
        break;
      case ArgType::kBool:
        if (!value.is_boolean()) return makeError(EINVAL, must + ", not " + typeName(value));
        break;
      case ArgType::kObject:
        if (!value.is_object()) return makeError(EINVAL, must + ", not " + typeName(value));
        if (auto r = check(value, a->fields, name + "."); !r) return r;
        break;
      case ArgType::kInteger: {
        if (!value.is_number_integer()) return makeError(EINVAL, must + ", not " + typeName(value));
        auto v = asInt64(value);
        if (!v || *v < a->min || *v > a->max)
          return makeError(EINVAL, must + ", not " + value.dump());
        break;
      }
    }
  }
  for (const ArgSpec& a : table)
    if (a.required && !args.contains(a.key))
      return makeError(EINVAL, "\"" + prefix + a.key + "\" is required (" + expected(a) + ")");
  return {};
}

}  // namespace

Result<void> checkArgs(const json& args, std::span<const ArgSpec> table) {
  return check(args, table, "");
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
