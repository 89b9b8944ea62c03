#include "strata/cgroup_memory.h"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace strata {
namespace {

// cgroup v1 writes "no limit" as the largest page-aligned 63-bit value.
constexpr std::size_t kV1Unlimited = std::size_t{1} << 62;

std::optional<std::string> read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return line;
}

bool exists(const std::string& path) {
  return static_cast<bool>(std::ifstream(path));
}

// A limit file's value: bytes, or nothing for "max", a value at or above
// `unlimited`, a missing file or one that does not parse.
std::optional<std::size_t> read_limit(const std::string& path,
                                      std::size_t unlimited) {
  const std::optional<std::string> line = read_first_line(path);
  if (!line) return std::nullopt;
  std::string_view text = *line;
  while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  std::size_t bytes = 0;
  const auto [end, error] =
      std::from_chars(text.data(), text.data() + text.size(), bytes);
  if (error != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;  // "max", or not a number
  }
  if (bytes >= unlimited) return std::nullopt;
  return bytes;
}

std::optional<std::size_t> smaller(std::optional<std::size_t> a,
                                   std::optional<std::size_t> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

// The smallest of `file` over `dir` and its ancestors up to `top`.
std::optional<std::size_t> smallest_up_to(const std::string& top,
                                          std::string dir,
                                          const std::string& file,
                                          std::size_t unlimited) {
  std::optional<std::size_t> result;
  for (;;) {
    std::string path = dir;
    path += '/';
    path += file;
    result = smaller(result, read_limit(path, unlimited));
    if (dir.size() <= top.size()) return result;
    dir.resize(dir.rfind('/'));
  }
}

struct membership {
  std::optional<std::string> unified;  // the v2 path ("0::/a/b")
  std::optional<std::string> memory;   // the v1 memory controller's path
};

membership read_membership(const std::string& self) {
  membership m;
  std::ifstream in(self);
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t first = line.find(':');
    const std::size_t second =
        first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    const std::string_view id(line.data(), first);
    const std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (path == "/") path.clear();
    if (id == "0" && controllers.empty()) {
      m.unified = path;
      continue;
    }
    std::stringstream list(controllers);
    for (std::string c; std::getline(list, c, ',');) {
      if (c == "memory") m.memory = path;
    }
  }
  return m;
}

// The directory of the process's cgroup under `top`, or `top` itself when
// that directory is not there.
std::string cgroup_dir(const std::string& top, const std::string& path,
                       const std::string& probe) {
  const std::string dir = top + path;
  return !path.empty() && exists(dir + "/" + probe) ? dir : top;
}

}  // namespace

cgroup_memory read_cgroup_memory(const cgroup_paths& paths) {
  const membership m = read_membership(std::string(paths.self));
  const std::string root(paths.root);
  cgroup_memory result;
  if (m.memory) {  // v1: the memory controller's own hierarchy
    const std::string top = root + "/memory";
    const std::string dir = cgroup_dir(top, *m.memory, "memory.limit_in_bytes");
    result.limit =
        smallest_up_to(top, dir, "memory.limit_in_bytes", kV1Unlimited);
    result.soft_limit =
        smallest_up_to(top, dir, "memory.soft_limit_in_bytes", kV1Unlimited);
    if (result.limit || result.soft_limit) return result;
  }
  if (m.unified) {
    // The unified hierarchy is the root, or beside v1 ones under "unified".
    const std::string top =
        exists(root + "/cgroup.controllers") ? root : root + "/unified";
    const std::string dir = cgroup_dir(top, *m.unified, "cgroup.controllers");
    result.limit = smallest_up_to(top, dir, "memory.max", SIZE_MAX);
    result.soft_limit = smallest_up_to(top, dir, "memory.high", SIZE_MAX);
  }
  return result;
}

}  // namespace strata
