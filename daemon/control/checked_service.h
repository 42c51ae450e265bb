// A gRPC service whose requests are checked on the wire before protobuf parses them
// (control/request_check.h): a request with a string that is not UTF-8, a repeated field past the
// limit or broken framing gets INVALID_ARGUMENT naming the field. gRPC's generated service would
// answer INTERNAL with an empty message, after protobuf had logged to stderr.
//
// It registers the methods of a generated service class (whose virtual methods hold the logic) under
// the names its descriptor gives, each with gRPC's own handler behind the check. Server
// reflection and the generated client stubs are unaffected.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/rpc_service_method.h>
#include <grpcpp/support/method_handler.h>

#include <deque>
#include <memory>
#include <string>

#include <google/protobuf/descriptor.h>

#include "common/status.h"
#include "control/request_check.h"

namespace tomstream::control {

// gRPC's handler for a method, behind the check of the request's wire form.
class CheckingHandler final : public grpc::internal::MethodHandler {
 public:
  CheckingHandler(const google::protobuf::Descriptor& request_type, RequestLimits limits,
                  std::unique_ptr<grpc::internal::MethodHandler> inner)
      : type_(request_type), limits_(limits), inner_(std::move(inner)) {}

  void RunHandler(const HandlerParameter& param) override { inner_->RunHandler(param); }
  void* Deserialize(grpc_call* call, grpc_byte_buffer* request, grpc::Status* status,
                    void** handler_data) override;

 private:
  const google::protobuf::Descriptor& type_;
  const RequestLimits limits_;
  std::unique_ptr<grpc::internal::MethodHandler> inner_;
};

// (`Impl` is the generated Service class: the name Service would mean grpc::Service in here.)
template <class Impl>
class CheckedService final : public grpc::Service {
 public:
  // `impl` must outlive this; its methods run on gRPC's threads as they would if it were
  // registered itself.
  CheckedService(Impl& impl, const google::protobuf::ServiceDescriptor& descriptor,
                 RequestLimits limits = RequestLimits())
      : impl_(impl), descriptor_(descriptor), limits_(limits) {}

  template <class Req, class Resp>
  void Unary(const std::string& method,
             grpc::Status (Impl::*fn)(grpc::ServerContext*, const Req*, Resp*)) {
    using Inner = grpc::internal::RpcMethodHandler<Impl, Req, Resp>;
    Add<Req>(method, grpc::internal::RpcMethod::NORMAL_RPC,
             std::make_unique<Inner>(
                 [fn](Impl* s, grpc::ServerContext* ctx, const Req* req, Resp* resp) {
                   return (s->*fn)(ctx, req, resp);
                 },
                 &impl_));
  }

  template <class Req, class Resp>
  void ServerStreaming(const std::string& method,
                       grpc::Status (Impl::*fn)(grpc::ServerContext*, const Req*,
                                                   grpc::ServerWriter<Resp>*)) {
    using Inner = grpc::internal::ServerStreamingHandler<Impl, Req, Resp>;
    Add<Req>(method, grpc::internal::RpcMethod::SERVER_STREAMING,
             std::make_unique<Inner>(
                 [fn](Impl* s, grpc::ServerContext* ctx, const Req* req,
                      grpc::ServerWriter<Resp>* writer) { return (s->*fn)(ctx, req, writer); },
                 &impl_));
  }

  // OK once every method of the descriptor is registered.
  Status Complete() const {
    if (registered_ == descriptor_.method_count()) return Status::Ok();
    return Status::Internal("service " + descriptor_.full_name() + ": " +
                            std::to_string(registered_) + " of " +
                            std::to_string(descriptor_.method_count()) + " methods registered");
  }

 private:
  template <class Req>
  void Add(const std::string& method, grpc::internal::RpcMethod::RpcType type,
           std::unique_ptr<grpc::internal::MethodHandler> inner) {
    const google::protobuf::MethodDescriptor* m = descriptor_.FindMethodByName(method);
    if (m == nullptr || m->input_type() != Req::descriptor()) {
      throw std::logic_error("no method " + descriptor_.full_name() + "." + method +
                             " taking " + Req::descriptor()->full_name());
    }
    // gRPC keeps the name's pointer: the deque keeps each string in place.
    const std::string& path = paths_.emplace_back("/" + descriptor_.full_name() + "/" + method);
    AddMethod(new grpc::internal::RpcServiceMethod(
        path.c_str(), type, new CheckingHandler(*Req::descriptor(), limits_, std::move(inner))));
    ++registered_;
  }

  Impl& impl_;
  const google::protobuf::ServiceDescriptor& descriptor_;
  const RequestLimits limits_;
  std::deque<std::string> paths_;
  int registered_ = 0;
};

}  // namespace tomstream::control
