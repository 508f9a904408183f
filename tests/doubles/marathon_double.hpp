// Marathon (and the DC/OS login in front of it) as sd_marathon sees it
// (../shared/reference/marathon-api.md): GET /v2/apps/?embed=apps.tasks, /ping, auth by
// "token=", basic auth, or a DC/OS login that verifies the RS256 JWT against the account's
// public key and issues tokens it can later expire. Faults on demand: 401s, malformed JSON.
#pragma once

#include "http_double.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace herd::test {

class MarathonDouble {
public:
    struct Options {
        std::string token;                // "Authorization: token=<token>"
        std::string username, password;   // basic auth
        std::string dcos_uid, dcos_public_key_pem;  // DC/OS service-account login
    };
    MarathonDouble();
    explicit MarathonDouble(Options o);
    ~MarathonDouble();

    std::string url() const { return server_->url(); }
    std::string login_endpoint() const { return url() + "/acs/api/v1/auth/login"; }
    HttpDouble& server() { return *server_; }

    void set_apps(nlohmann::json apps);  // the "apps" array, tasks embedded
    void unauthorized_next(int requests);
    void malformed_next();
    void expire_login_tokens();  // issued DC/OS tokens stop working (a new login is needed)

    size_t app_requests() const;
    size_t logins() const;

private:
    struct State;
    void handle(const DoubleRequest& req, DoubleReply& reply);
    std::unique_ptr<State> state_;
    std::unique_ptr<HttpDouble> server_;
};

}  // namespace herd::test
