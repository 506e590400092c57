#include "services/analytics/analytics_service.h"

#include <httplib.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "libs/server/auth.h"
#include "libs/status/grpc_status.h"

namespace meridian::analytics {

using orgs::Role;

grpc::Status AnalyticsService::Query(grpc::ServerContext* ctx, const v1::QueryRequest* request,
                                     v1::QueryResponse* response) {
  auto caller = server::Authorise(*ctx, *directory_, {Role::kAuthority, Role::kOperator});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(logic_->Query(*request), response);
}

grpc::Status AnalyticsService::GetIndicator(grpc::ServerContext* ctx,
                                            const v1::IndicatorRequest* request,
                                            v1::IndicatorResponse* response) {
  auto caller = server::Authorise(*ctx, *directory_, {Role::kAuthority, Role::kOperator});
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return ReplyWith(logic_->GetIndicator(*request), response);
}

namespace {

int HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

void ReplyError(httplib::Response& res, const absl::Status& s) {
  google::protobuf::Value message;
  message.set_string_value(std::string(s.message()));
  std::string quoted;
  (void)google::protobuf::util::MessageToJsonString(message, &quoted);
  res.status = HttpStatusOf(s.code());
  res.set_content(absl::StrCat("{\"code\":\"", absl::StatusCodeToString(s.code()),
                               "\",\"message\":", quoted, "}"),
                  "application/json");
}

// The certificate's CN and OU, as the TLS handshake verified it.
absl::StatusOr<server::Caller> CallerOf(const httplib::Request& req,
                                        const orgs::Directory& directory) {
  if (req.ssl == nullptr) return absl::UnauthenticatedError("a client certificate is required");
  X509* cert = SSL_get1_peer_certificate(req.ssl);
  if (cert == nullptr) return absl::UnauthenticatedError("a client certificate is required");
  auto text = [&](int nid) {
    char buf[256] = {0};
    const int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), nid, buf, sizeof(buf));
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  };
  const std::string cn = text(NID_commonName);
  const std::string ou = text(NID_organizationalUnitName);
  X509_free(cert);
  return server::CallerFromCertificate(cn, ou, directory);
}

// Parses the JSON body into Req, runs `call`, writes Resp as JSON.
template <typename Req, typename Call>
void Serve(const httplib::Request& req, httplib::Response& res, const orgs::Directory& directory,
           Call call) {
  absl::StatusOr<server::Caller> caller = CallerOf(req, directory);
  if (caller.ok()) {
    absl::Status allowed = server::RequireRole(*caller, {Role::kAuthority, Role::kOperator});
    if (!allowed.ok()) caller = allowed;
  }
  if (!caller.ok()) return ReplyError(res, caller.status());
  Req request;
  google::protobuf::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = false;
  if (!google::protobuf::util::JsonStringToMessage(req.body, &request, parse).ok()) {
    // The parser's message quotes the input: say only what was expected.
    return ReplyError(res, absl::InvalidArgumentError(absl::StrCat(
                               "body: not a JSON ", Req::descriptor()->full_name())));
  }
  auto result = call(request);
  if (!result.ok()) return ReplyError(res, result.status());
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.always_print_primitive_fields = true;
  if (!google::protobuf::util::MessageToJsonString(*result, &json, print).ok()) {
    return ReplyError(res, absl::InternalError("response: not printable as JSON"));
  }
  res.set_content(json, "application/json");
}

}  // namespace

HttpApi::HttpApi(Analytics* logic, const orgs::Directory* directory, HttpOptions options)
    : logic_(logic), directory_(directory), options_(std::move(options)) {}

HttpApi::~HttpApi() { Stop(); }

absl::Status HttpApi::Start() {
  server_ = std::make_unique<httplib::SSLServer>(options_.cert_file.c_str(),
                                                 options_.key_file.c_str(),
                                                 options_.client_ca_file.c_str());
  if (!server_->is_valid()) {
    return absl::InvalidArgumentError(
        "analytics HTTPS: the certificate, key or client CA cannot be loaded");
  }
  SSL_CTX* ctx = server_->ssl_context();
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (!options_.crl_dir.empty()) {
    // The issuer's CRL is looked up by hash (<hash>.r0) in the directory at
    // the first handshake that needs it, then kept by OpenSSL: a newer CRL
    // takes effect under the next suffix (<hash>.r1) or at a restart.
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_hash_dir());
    if (access(options_.crl_dir.c_str(), R_OK | X_OK) != 0 || lookup == nullptr ||
        X509_LOOKUP_add_dir(lookup, options_.crl_dir.c_str(), X509_FILETYPE_PEM) != 1) {
      return absl::NotFoundError(absl::StrCat(
          "analytics HTTPS: cannot read the CRL directory ", options_.crl_dir));
    }
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  }
  // Resumed sessions with client certificates need a session ID context;
  // without one OpenSSL fails every resumption with an internal error.
  static constexpr unsigned char kSessionContext[] = "meridian-analytics";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
  server_->set_payload_max_length(options_.max_body_bytes);
  server_->Post("/v1/query", [this](const httplib::Request& req, httplib::Response& res) {
    Serve<v1::QueryRequest>(req, res, *directory_,
                            [this](const v1::QueryRequest& r) { return logic_->Query(r); });
  });
  server_->Post("/v1/indicator", [this](const httplib::Request& req, httplib::Response& res) {
    Serve<v1::IndicatorRequest>(
        req, res, *directory_,
        [this](const v1::IndicatorRequest& r) { return logic_->GetIndicator(r); });
  });
  if (!options_.static_dir.empty() && !server_->set_mount_point("/", options_.static_dir)) {
    return absl::InvalidArgumentError("analytics HTTPS: the dashboard directory does not exist");
  }
  server_->set_default_headers({{"Content-Security-Policy", "default-src 'self'"},
                                {"X-Content-Type-Options", "nosniff"},
                                {"Cache-Control", "no-store"}});
  if (options_.port == 0) {
    port_ = server_->bind_to_any_port(options_.host);
  } else {
    port_ = server_->bind_to_port(options_.host, options_.port) ? options_.port : -1;
  }
  if (port_ <= 0) {
    return absl::UnavailableError(
        absl::StrCat("analytics HTTPS: cannot listen on ", options_.host, ":", options_.port));
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return absl::OkStatus();
}

void HttpApi::Stop() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace meridian::analytics
