#include "connection.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tomctl {

Connection::Connection(ConnectionOptions options) : options_(std::move(options)) {
  const std::string& s = options_.socket;
  if (s.rfind("unix:", 0) == 0) {
    unix_path_ = s.substr(5);
    target_ = s;
  } else if (s.find("://") != std::string::npos ||
             (s.find('/') == std::string::npos && s.find(':') != std::string::npos)) {
    target_ = s;  // a gRPC target such as 127.0.0.1:50051 or dns:///host:port
  } else {
    unix_path_ = s;  // a socket path, absolute or relative
    target_ = "unix:" + s;
  }
}

void Connection::ProbeUnixSocket() const {
  sockaddr_un addr{};
  if (unix_path_.size() >= sizeof(addr.sun_path)) {
    throw CommandError("socket path too long: " + unix_path_);
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, unix_path_.c_str(), unix_path_.size() + 1);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw CommandError(std::string("socket: ") + std::strerror(errno));
  const int rc = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  const int err = errno;
  close(fd);
  if (rc != 0) {
    throw CommandError("cannot reach tomstreamd at " + unix_path_ + ": " + std::strerror(err) +
                       (err == ENOENT ? " (is the daemon running? see --socket)" : ""));
  }
}

tomstream::v1::Control::Stub& Connection::stub() {
  if (!stub_) {
    if (!unix_path_.empty()) ProbeUnixSocket();
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
    channel_ = grpc::CreateCustomChannel(target_, grpc::InsecureChannelCredentials(), args);
    stub_ = tomstream::v1::Control::NewStub(channel_);
  }
  return *stub_;
}

std::unique_ptr<grpc::ClientContext> Connection::NewContext() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + options_.timeout);
  return ctx;
}

std::unique_ptr<grpc::ClientContext> Connection::NewStreamingContext() {
  stub();
  if (!channel_->WaitForConnected(std::chrono::system_clock::now() + options_.timeout)) {
    throw CommandError("cannot reach tomstreamd at " + (unix_path_.empty() ? target_ : unix_path_) +
                       " within " + std::to_string(options_.timeout.count()) + " ms");
  }
  return std::make_unique<grpc::ClientContext>();
}

namespace {
const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "ERROR";
  }
}
}  // namespace

void Connection::Check(const grpc::Status& st, const std::string& what) const {
  if (st.ok()) return;
  std::string msg = what + ": " + CodeName(st.error_code()) + ": " + st.error_message();
  if (st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
      st.error_code() == grpc::StatusCode::UNAVAILABLE) {
    msg += " (daemon at " + (unix_path_.empty() ? target_ : unix_path_) + ", timeout " +
           std::to_string(options_.timeout.count()) + " ms)";
  }
  throw CommandError(msg);
}

}  // namespace tomctl
