// Unit tests of kafka::ClientCredentialsTokenSource (daemon/kafka/token_source.cc): the OAuth 2.0
// client-credentials request it sends and how it reads the answer, against a tiny HTTP token
// endpoint run by the test on 127.0.0.1.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kafka/token_source.h"

namespace tomstream::kafka {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr auto kServerWait = 10s;  // upper bound for every wait of the test server

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A socket bound to 127.0.0.1 on a free port. Closed on destruction.
class BoundSocket {
 public:
  BoundSocket() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      close(fd_);
      fd_ = -1;
      return;
    }
    port_ = ntohs(addr.sin_port);
  }
  ~BoundSocket() {
    if (fd_ >= 0) close(fd_);
  }
  BoundSocket(const BoundSocket&) = delete;
  BoundSocket& operator=(const BoundSocket&) = delete;

  int fd() const { return fd_; }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

struct HttpRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// A one-request HTTP/1.1 server on 127.0.0.1: accepts one connection, reads one request and
// answers it with `response` (a complete HTTP response), or never answers when `response` is
// nullopt (the connection stays open until the server is destroyed). Every wait is bounded.
class TokenEndpoint {
 public:
  explicit TokenEndpoint(std::optional<std::string> response) : response_(std::move(response)) {
    if (listen(socket_.fd(), 4) != 0) return;
    if (pipe2(stop_, O_CLOEXEC) != 0) return;
    thread_ = std::thread([this] { Serve(); });
  }
  ~TokenEndpoint() {
    if (stop_[1] >= 0) {
      const char c = 'x';
      (void)!write(stop_[1], &c, 1);
    }
    if (thread_.joinable()) thread_.join();
    for (int fd : stop_) {
      if (fd >= 0) close(fd);
    }
  }
  TokenEndpoint(const TokenEndpoint&) = delete;
  TokenEndpoint& operator=(const TokenEndpoint&) = delete;

  bool ok() const { return thread_.joinable(); }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(socket_.port()) + "/oauth2/token";
  }
  // The request, once read completely (bounded wait).
  std::optional<HttpRequest> request(std::chrono::milliseconds limit = kServerWait) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, limit, [&] { return request_.has_value(); });
    return request_;
  }

 private:
  // Waits until `fd` is readable, the server is stopped, or the deadline passes.
  bool WaitReadable(int fd, Clock::time_point deadline) {
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms) return false;
      pollfd fds[2] = {{fd, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      const int n = poll(fds, 2, static_cast<int>(left.count()));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || (fds[1].revents & POLLIN) != 0) return false;
      return (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
    }
  }

  void Serve() {
    const auto deadline = Clock::now() + kServerWait;
    if (!WaitReadable(socket_.fd(), deadline)) return;
    const int conn = accept4(socket_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) return;
    std::string data;
    size_t header_end = std::string::npos;
    size_t content_length = 0;
    char buf[4096];
    while (true) {
      if (header_end == std::string::npos) {
        header_end = data.find("\r\n\r\n");
        if (header_end != std::string::npos) content_length = ContentLength(data.substr(0, header_end));
      }
      if (header_end != std::string::npos && data.size() >= header_end + 4 + content_length) break;
      if (data.size() > 1 << 20 || !WaitReadable(conn, deadline)) {
        close(conn);
        return;
      }
      const ssize_t n = read(conn, buf, sizeof buf);
      if (n <= 0) {
        close(conn);
        return;
      }
      data.append(buf, static_cast<size_t>(n));
    }
    {
      std::lock_guard lock(mu_);
      request_ = Parse(data.substr(0, header_end), data.substr(header_end + 4, content_length));
    }
    cv_.notify_all();
    if (response_) {
      size_t sent = 0;
      while (sent < response_->size()) {
        const ssize_t n = send(conn, response_->data() + sent, response_->size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
      }
    } else {
      // Never answer: hold the connection until the test is done with it.
      (void)WaitReadable(stop_[0], deadline);
    }
    close(conn);
  }

  static std::string Lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  static size_t ContentLength(const std::string& head) {
    const std::string lower = Lower(head);
    const auto pos = lower.find("\r\ncontent-length:");
    if (pos == std::string::npos) return 0;
    return std::strtoul(lower.c_str() + pos + 17, nullptr, 10);
  }

  static HttpRequest Parse(const std::string& head, std::string body) {
    HttpRequest r;
    r.body = std::move(body);
    size_t line_end = head.find("\r\n");
    const std::string request_line = head.substr(0, line_end);
    const auto sp1 = request_line.find(' ');
    const auto sp2 = request_line.find(' ', sp1 + 1);
    r.method = request_line.substr(0, sp1);
    r.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    while (line_end != std::string::npos) {
      const size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line = head.substr(start, line_end == std::string::npos ? std::string::npos
                                                                                : line_end - start);
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers[Lower(line.substr(0, colon))] = value;
    }
    return r;
  }

  BoundSocket socket_;
  int stop_[2] = {-1, -1};
  const std::optional<std::string> response_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<HttpRequest> request_;  // GUARDED_BY(mu_)
  std::thread thread_;
};

std::string HttpResponse(int status, const std::string& reason, const std::string& body,
                         const std::string& content_type = "application/json") {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: " +
         content_type + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

// application/x-www-form-urlencoded decoding.
std::string FormDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::multimap<std::string, std::string> FormFields(const std::string& body) {
  std::multimap<std::string, std::string> fields;
  size_t start = 0;
  while (start <= body.size()) {
    size_t amp = body.find('&', start);
    if (amp == std::string::npos) amp = body.size();
    const std::string pair = body.substr(start, amp - start);
    const auto eq = pair.find('=');
    if (!pair.empty()) {
      fields.emplace(FormDecode(pair.substr(0, eq)),
                     eq == std::string::npos ? std::string() : FormDecode(pair.substr(eq + 1)));
    }
    start = amp + 1;
  }
  return fields;
}

// A client secret with every character class a form encoder must escape.
const std::string kSecret = "s3cr&t=+/ %?#\xc3\xa9-value";
const std::string kClientId = "tomstream client+id&x";

ClientCredentials Credentials(const std::string& url,
                              std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  ClientCredentials cc;
  cc.token_endpoint = url;
  cc.client_id = kClientId;
  cc.client_secret = config::Secret(kSecret, "inline");
  cc.timeout = timeout;
  return cc;
}

// ---------------------------------------------------------------------------------------------
// Suite "token_source" (lower case) so that `ctest -R token` selects these tests.

TEST(token_source, GoodResponseGivesTokenAndExpiry) {
  TokenEndpoint endpoint(HttpResponse(
      200, "OK", R"({"access_token":"eyJ.token.value","token_type":"Bearer","expires_in":3600})"));
  ASSERT_TRUE(endpoint.ok());
  ClientCredentialsTokenSource source(Credentials(endpoint.url()));
  const int64_t before = NowMillis();
  Result<Token> token = source.Fetch();
  const int64_t after = NowMillis();
  ASSERT_TRUE(token.ok()) << token.status().message();
  EXPECT_EQ(token->value, "eyJ.token.value");
  EXPECT_GE(token->expiry_ms, before + 3600 * 1000);
  EXPECT_LE(token->expiry_ms, after + 3600 * 1000);
  EXPECT_FALSE(token->principal.empty());
}

TEST(token_source, SendsFormEncodedClientCredentialsPost) {
  TokenEndpoint endpoint(
      HttpResponse(200, "OK", R"({"access_token":"abc","token_type":"Bearer","expires_in":60})"));
  ASSERT_TRUE(endpoint.ok());
  ClientCredentialsTokenSource source(Credentials(endpoint.url()));
  Result<Token> token = source.Fetch();
  ASSERT_TRUE(token.ok()) << token.status().message();

  std::optional<HttpRequest> request = endpoint.request();
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->method, "POST");
  EXPECT_EQ(request->target, "/oauth2/token");
  EXPECT_THAT(request->headers["content-type"], HasSubstr("application/x-www-form-urlencoded"));
  EXPECT_EQ(request->headers["content-length"], std::to_string(request->body.size()));

  // The secret is sent URL-encoded, never raw.
  EXPECT_THAT(request->body, Not(HasSubstr(kSecret)));
  EXPECT_THAT(request->body, Not(HasSubstr(kClientId)));
  const auto fields = FormFields(request->body);
  EXPECT_EQ(fields.count("grant_type"), 1u);
  EXPECT_EQ(fields.count("client_id"), 1u);
  EXPECT_EQ(fields.count("client_secret"), 1u);
  ASSERT_EQ(fields.count("grant_type"), 1u) << request->body;
  EXPECT_EQ(fields.find("grant_type")->second, "client_credentials");
  ASSERT_EQ(fields.count("client_id"), 1u) << request->body;
  EXPECT_EQ(fields.find("client_id")->second, kClientId);
  ASSERT_EQ(fields.count("client_secret"), 1u) << request->body;
  EXPECT_EQ(fields.find("client_secret")->second, kSecret);
}

TEST(token_source, Http401NamesEndpointAndStatusButNotTheSecret) {
  // Even a server that echoes the secret back must not get it into the error.
  TokenEndpoint endpoint(HttpResponse(
      401, "Unauthorized", R"({"error":"invalid_client","client_secret":")" + kSecret + "\"}"));
  ASSERT_TRUE(endpoint.ok());
  ClientCredentialsTokenSource source(Credentials(endpoint.url()));
  Result<Token> token = source.Fetch();
  ASSERT_FALSE(token.ok());
  const std::string& msg = token.status().message();
  EXPECT_THAT(msg, HasSubstr(endpoint.url()));
  EXPECT_THAT(msg, HasSubstr("401"));
  EXPECT_THAT(msg, Not(HasSubstr(kSecret)));
  EXPECT_THAT(msg, Not(HasSubstr("s3cr")));
}

TEST(token_source, BodyWithoutAccessTokenIsAnError) {
  TokenEndpoint endpoint(HttpResponse(200, "OK", R"({"token_type":"Bearer","expires_in":3600})"));
  ASSERT_TRUE(endpoint.ok());
  ClientCredentialsTokenSource source(Credentials(endpoint.url()));
  Result<Token> token = source.Fetch();
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(token.status().message(), HasSubstr(endpoint.url()));
  EXPECT_THAT(token.status().message(), HasSubstr("access_token"));
  EXPECT_THAT(token.status().message(), Not(HasSubstr("s3cr")));
}

TEST(token_source, BodyThatIsNotJsonIsAnError) {
  TokenEndpoint endpoint(HttpResponse(200, "OK", "<html>login</html>", "text/html"));
  ASSERT_TRUE(endpoint.ok());
  ClientCredentialsTokenSource source(Credentials(endpoint.url()));
  Result<Token> token = source.Fetch();
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(token.status().message(), HasSubstr(endpoint.url()));
}

TEST(token_source, ServerThatNeverAnswersTimesOut) {
  TokenEndpoint endpoint(std::nullopt);
  ASSERT_TRUE(endpoint.ok());
  ClientCredentialsTokenSource source(Credentials(endpoint.url(), 500ms));
  const auto t0 = Clock::now();
  Result<Token> token = source.Fetch();
  const auto elapsed = Clock::now() - t0;
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(token.status().message(), HasSubstr(endpoint.url()));
  EXPECT_THAT(token.status().message(), Not(HasSubstr("s3cr")));
  EXPECT_GE(elapsed, 400ms);
  EXPECT_LT(elapsed, 3s) << "the configured timeout is 500 ms";
  // The request did arrive: it was the answer that never came.
  EXPECT_TRUE(endpoint.request(0ms).has_value());
}

TEST(token_source, ConnectionRefusedIsAnError) {
  // Bound but not listening: connections to the port are refused, and no one else can take it.
  BoundSocket closed;
  ASSERT_GE(closed.fd(), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(closed.port()) + "/oauth2/token";
  ClientCredentialsTokenSource source(Credentials(url, 2000ms));
  const auto t0 = Clock::now();
  Result<Token> token = source.Fetch();
  ASSERT_FALSE(token.ok());
  EXPECT_LT(Clock::now() - t0, 3s);
  EXPECT_THAT(token.status().message(), HasSubstr(url));
  EXPECT_THAT(token.status().message(), Not(HasSubstr("s3cr")));
}

}  // namespace
}  // namespace tomstream::kafka
