#include "serve/client_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <optional>
#include <system_error>

namespace e2llm::serve {
namespace {

struct Endpoint {
  std::string ip;
  int port = -1;
};

// The numeric address and port of a socket name, as httplib writes them.
std::optional<Endpoint> endpoint_of(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(address);
    if (!::inet_ntop(AF_INET, &in.sin_addr, text, sizeof text)) return std::nullopt;
    return Endpoint{text, ntohs(in.sin_port)};
  }
  if (address.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(address);
    if (!::inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text)) return std::nullopt;
    return Endpoint{text, ntohs(in6.sin6_port)};
  }
  return std::nullopt;
}

template <typename GetName>
std::optional<Endpoint> name_of(int fd, GetName get_name) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (get_name(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return std::nullopt;
  return endpoint_of(address);
}

}  // namespace

ClientConnection::ClientConnection(const std::string& remote_ip, int remote_port, int local_port) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    const std::string name = entry.path().filename().string();
    int fd = -1;
    if (std::from_chars(name.data(), name.data() + name.size(), fd).ec != std::errc()) continue;
    struct stat info {};
    if (::fstat(fd, &info) != 0 || !S_ISSOCK(info.st_mode)) continue;
    const auto peer = name_of(fd, ::getpeername);
    if (!peer || peer->port != remote_port || peer->ip != remote_ip) continue;
    const auto local = name_of(fd, ::getsockname);
    if (!local || local->port != local_port) continue;
    fd_ = fd;
    return;
  }
}

bool ClientConnection::gone() const {
  if (fd_ < 0) return false;
  char byte = 0;
  const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;  // the client closed its side
  if (n > 0) return false;
  return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

}  // namespace e2llm::serve
