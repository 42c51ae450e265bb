#include "config/secret.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace tomstream::config {

SecretResolver SecretResolver::System() {
  SecretResolver r;
  r.getenv = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
  r.read_file = [](const std::string& path) -> Result<std::string> {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::IoError("cannot read " + path + ": " + std::strerror(errno));
    std::ostringstream buf;
    buf << in.rdbuf();
    return buf.str();
  };
  return r;
}

}  // namespace tomstream::config
