// A struct's JSON form from one field table, so that reading and writing
// cannot drift apart (E2llmConfig, TrainOptions). The table is a function
//
//   template <typename S, typename Visit> void fields(S& s, Visit&& visit) {
//     visit("max_steps", s.max_steps);
//     visit("pooling", by_name(s.pooling.mode, parse_pooling_mode, pooling_mode_name));
//   }
//
// read_fields reads every key of a JSON object into the member the table
// names, with the checked readers of json_fields.h, and refuses unknown keys;
// write_fields writes every member. Members the JSON leaves out keep their value.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <type_traits>

#include "io/json_fields.h"

namespace e2llm::json_fields {

// A member stored in JSON by name (an enum): parse() turns the name into the
// value (throwing e2llm::Error for an unknown one), name() back.
template <typename T, typename Parse, typename Name>
struct ByName {
  T& value;
  Parse parse;
  Name name;
};
template <typename T, typename Parse, typename Name>
ByName<T, Parse, Name> by_name(T& value, Parse parse, Name name) {
  return {value, parse, name};
}

namespace detail {

template <typename T>
struct is_by_name : std::false_type {};
template <typename T, typename P, typename N>
struct is_by_name<ByName<T, P, N>> : std::true_type {};

template <typename Member>
void read_member(Member&& member, const nlohmann::json& v, const Where& where) {
  using M = std::remove_cvref_t<Member>;
  if constexpr (is_by_name<M>::value) {
    const std::string text = read_string(v, where);
    try {
      member.value = member.parse(text);
    } catch (const Error& e) {
      fail("{}: {}", where.describe(), e.what());
    }
  } else {
    member = read<M>(v, where);
  }
}

template <typename Member>
nlohmann::json write_member(const Member& member) {
  if constexpr (is_by_name<Member>::value) return member.name(member.value);
  else return member;
}

template <typename S, typename Table>
std::string known_keys(S& s, Table&& table) {
  std::string out;
  table(s, [&](std::string_view name, auto&&) { out += (out.empty() ? "" : ", ") + std::string(name); });
  return out;
}

}  // namespace detail

template <typename S, typename Table>
void read_fields(const nlohmann::json& j, S& s, Table&& table, const Where& where) {
  require_object(j, where);
  for (const auto& item : j.items()) {
    const std::string& key = item.key();  // (clang 14 lambdas cannot capture structured bindings)
    const nlohmann::json& value = item.value();
    bool known = false;
    table(s, [&](std::string_view name, auto&& member) {
      if (known || key != name) return;
      known = true;
      if (!value.is_null()) detail::read_member(member, value, where.key(key));  // null = left out
    });
    E2LLM_CHECK(known, "{} is not a known option (known: {})", where.key(key).describe(),
                detail::known_keys(s, table));
  }
}

template <typename S, typename Table>
nlohmann::json write_fields(const S& s, Table&& table) {
  S copy = s;  // the table takes members by non-const reference
  nlohmann::json j = nlohmann::json::object();
  table(copy, [&](std::string_view name, auto&& member) { j[std::string(name)] = detail::write_member(member); });
  return j;
}

}  // namespace e2llm::json_fields
