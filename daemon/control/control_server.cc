#include "control/control_server.h"

#include <unistd.h>

#include <google/protobuf/util/time_util.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "common/version.h"
#include "control/unix_socket.h"
#include "tomstream/v1/control.grpc.pb.h"

namespace tomstream::control {
namespace {

namespace pb = tomstream::v1;
using google::protobuf::util::TimeUtil;

// The one place internal errors become gRPC status codes.
grpc::Status ToGrpc(const Status& st) {
  switch (st.code()) {
    case StatusCode::kOk: return grpc::Status::OK;
    case StatusCode::kInvalidArgument:
      return {grpc::StatusCode::INVALID_ARGUMENT, st.message()};
    case StatusCode::kNotFound: return {grpc::StatusCode::NOT_FOUND, st.message()};
    case StatusCode::kAlreadyExists: return {grpc::StatusCode::ALREADY_EXISTS, st.message()};
    case StatusCode::kFailedPrecondition:
      return {grpc::StatusCode::FAILED_PRECONDITION, st.message()};
    case StatusCode::kResourceExhausted:
      return {grpc::StatusCode::RESOURCE_EXHAUSTED, st.message()};
    case StatusCode::kUnavailable: return {grpc::StatusCode::UNAVAILABLE, st.message()};
    case StatusCode::kUnimplemented: return {grpc::StatusCode::UNIMPLEMENTED, st.message()};
    case StatusCode::kIoError:
    case StatusCode::kInternal: return {grpc::StatusCode::INTERNAL, st.message()};
  }
  return {grpc::StatusCode::UNKNOWN, st.message()};
}

class ControlService final : public pb::Control::Service {
 public:
  explicit ControlService(DaemonView& view) : view_(view) {}

  grpc::Status GetVersion(grpc::ServerContext*, const pb::GetVersionRequest*,
                          pb::GetVersionResponse* out) override {
    const VersionInfo v = view_.Versions();
    out->set_version(v.version);
    out->set_api_version(kApiVersion);
    out->set_git_revision(v.git_revision);
    out->set_librdkafka_version(v.librdkafka_version);
    out->set_sqlite_version(v.sqlite_version);
    out->set_grpc_version(grpc::Version());
    return grpc::Status::OK;
  }

  grpc::Status GetStatus(grpc::ServerContext*, const pb::GetStatusRequest*,
                         pb::GetStatusResponse* out) override {
    const DaemonSnapshot s = view_.Snapshot();
    out->set_version(s.version);
    out->set_pid(s.pid);
    *out->mutable_started_at() = TimeUtil::MillisecondsToTimestamp(
        std::chrono::duration_cast<std::chrono::milliseconds>(s.started_at.time_since_epoch())
            .count());
    *out->mutable_uptime() = TimeUtil::MillisecondsToDuration(
        std::chrono::duration_cast<std::chrono::milliseconds>(s.uptime).count());
    out->set_config_path(s.config_path);
    out->set_control_socket(s.control_socket);
    out->set_log_level(s.log_level);
    pb::StoreStatus* store = out->mutable_store();
    store->set_path(s.store.path);
    store->set_schema_version(s.store.schema_version);
    store->set_size_bytes(s.store.size_bytes);
    store->set_wal_size_bytes(s.store.wal_size_bytes);
    store->set_write_error(s.store.write_error);
    return grpc::Status::OK;
  }

  grpc::Status SetLogLevel(grpc::ServerContext*, const pb::SetLogLevelRequest* req,
                           pb::SetLogLevelResponse* out) override {
    std::string previous;
    Status st = view_.SetLogLevel(req->level(), previous);
    if (!st.ok()) return ToGrpc(st);
    out->set_previous_level(previous);
    out->set_level(req->level());
    return grpc::Status::OK;
  }

 private:
  DaemonView& view_;
};

}  // namespace

struct ControlServer::Impl {
  ControlServerOptions options;
  LockFile claim;  // held until after the socket file is removed
  std::unique_ptr<ControlService> service;
  std::unique_ptr<grpc::Server> server;
  bool stopped = false;
};

ControlServer::ControlServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ControlServer::~ControlServer() { Shutdown(std::chrono::milliseconds(0)); }

Result<LockFile> ControlServer::Claim(const ControlServerOptions& options) {
  return ClaimSocketPath(options.socket_path);
}

Result<std::unique_ptr<ControlServer>> ControlServer::Start(const ControlServerOptions& options,
                                                            LockFile claim, DaemonView& view) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->claim = std::move(claim);
  impl->service = std::make_unique<ControlService>(view);

  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int unix_port = 0;
  builder.AddListeningPort("unix:" + options.socket_path, grpc::InsecureServerCredentials(),
                           &unix_port);
  int tcp_port = 0;
  if (!options.tcp_listen.empty()) {
    builder.AddListeningPort(options.tcp_listen, grpc::InsecureServerCredentials(), &tcp_port);
  }
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.RegisterService(impl->service.get());
  impl->server = builder.BuildAndStart();
  if (impl->server == nullptr || unix_port == 0) {
    return Status::IoError("cannot listen on control socket " + options.socket_path);
  }
  if (!options.tcp_listen.empty() && tcp_port == 0) {
    impl->server->Shutdown();
    unlink(options.socket_path.c_str());
    return Status::IoError("cannot listen on control.tcp_listen " + options.tcp_listen);
  }
  Status secured = SecureSocket(options.socket_path, options.socket_group);
  if (!secured.ok()) {
    impl->server->Shutdown();
    unlink(options.socket_path.c_str());
    return secured;
  }
  spdlog::info("control: serving on unix:{}{}", options.socket_path,
               options.tcp_listen.empty() ? "" : " and " + options.tcp_listen);
  return std::unique_ptr<ControlServer>(new ControlServer(std::move(impl)));
}

void ControlServer::Shutdown(std::chrono::milliseconds grace) {
  if (impl_ == nullptr || impl_->stopped) return;
  impl_->stopped = true;
  impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
  impl_->server->Wait();
  unlink(impl_->options.socket_path.c_str());
}

}  // namespace tomstream::control
