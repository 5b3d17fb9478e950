// Is the client of a request still connected? httplib 0.11 (Debian 12) does
// not tell a handler, and a non-streamed answer writes nothing until it is
// done, so a client that gave up would otherwise keep the compute thread busy
// to the last token. The server finds the request's socket by its two
// endpoints and peeks at it, as httplib itself does for keep-alive.
#pragma once
#include <string>

namespace e2llm::serve {

class ClientConnection {
 public:
  // The TCP socket of this process connected to remote_ip:remote_port on
  // local_port (httplib's Request fields). Not found (e.g. a Unix socket):
  // gone() is always false, as before.
  ClientConnection(const std::string& remote_ip, int remote_port, int local_port);

  // True once the client closed the connection (a read would return end of
  // file) or it failed. Bytes the client sent meanwhile (a pipelined request)
  // are left unread. Valid while the handler runs: httplib keeps the socket
  // open until the handler returns, so the descriptor cannot be reused.
  bool gone() const;
  bool found() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace e2llm::serve
