#include "marathon_double.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <mutex>
#include <set>

namespace herd::test {

using nlohmann::json;

namespace {

std::string b64url_decode(std::string s) {
    for (auto& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
    while (s.size() % 4) s += '=';
    std::string out(s.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(s.data()),
                            static_cast<int>(s.size()));
    if (n < 0) return {};
    size_t pad = 0;
    if (!s.empty() && s.back() == '=') ++pad;
    if (s.size() > 1 && s[s.size() - 2] == '=') ++pad;
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

std::string b64(const std::string& in) {
    std::string out(4 * ((in.size() + 2) / 3), '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                            static_cast<int>(in.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

// The JWT's RS256 signature checked with the public key; its uid returned ("" when invalid).
std::string verified_uid(const std::string& jwt, const std::string& public_pem) {
    const auto d1 = jwt.find('.'), d2 = jwt.rfind('.');
    if (d1 == std::string::npos || d1 == d2) return "";
    json header = json::parse(b64url_decode(jwt.substr(0, d1)), nullptr, false);
    json payload = json::parse(b64url_decode(jwt.substr(d1 + 1, d2 - d1 - 1)), nullptr, false);
    if (!header.is_object() || header.value("alg", "") != "RS256" || !payload.is_object()) return "";
    const std::string sig = b64url_decode(jwt.substr(d2 + 1)), input = jwt.substr(0, d2);
    BIO* bio = BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (!key) return "";
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    const bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
                    EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ok ? payload.value("uid", "") : "";
}

}  // namespace

struct MarathonDouble::State {
    Options opt;
    mutable std::mutex mu;
    json apps = json::array();
    int unauthorized = 0;
    bool malformed = false;
    std::set<std::string> issued;
    size_t app_requests = 0, logins = 0, serial = 0;
};

MarathonDouble::MarathonDouble() : MarathonDouble(Options{}) {}
MarathonDouble::MarathonDouble(Options o) : state_(std::make_unique<State>()) {
    state_->opt = std::move(o);
    server_ = std::make_unique<HttpDouble>([this](const DoubleRequest& r, DoubleReply& reply) { handle(r, reply); });
}
MarathonDouble::~MarathonDouble() { server_.reset(); }

void MarathonDouble::set_apps(json apps) {
    std::lock_guard lk(state_->mu);
    state_->apps = std::move(apps);
}
void MarathonDouble::unauthorized_next(int n) {
    std::lock_guard lk(state_->mu);
    state_->unauthorized = n;
}
void MarathonDouble::malformed_next() {
    std::lock_guard lk(state_->mu);
    state_->malformed = true;
}
void MarathonDouble::expire_login_tokens() {
    std::lock_guard lk(state_->mu);
    state_->issued.clear();
}
size_t MarathonDouble::app_requests() const {
    std::lock_guard lk(state_->mu);
    return state_->app_requests;
}
size_t MarathonDouble::logins() const {
    std::lock_guard lk(state_->mu);
    return state_->logins;
}

void MarathonDouble::handle(const DoubleRequest& req, DoubleReply& reply) {
    State& S = *state_;
    std::lock_guard lk(S.mu);
    auto send = [&](int code, const std::string& body) { reply.send({code, {{"Content-Type", "application/json"}}, body}); };
    if (req.path == "/acs/api/v1/auth/login" && req.method == "POST") {
        json body = json::parse(req.body, nullptr, false);
        const std::string uid = body.is_object() ? body.value("uid", "") : "";
        bool ok = false;
        if (!uid.empty() && uid == S.opt.dcos_uid) {
            if (body.contains("token")) ok = verified_uid(body.value("token", ""), S.opt.dcos_public_key_pem) == uid;
            else if (body.contains("password")) ok = !S.opt.password.empty() && body.value("password", "") == S.opt.password;
        }
        if (!ok) return send(401, R"({"title":"Unauthorized","description":"login failed"})");
        ++S.logins;
        const std::string token = "dcos-token-" + std::to_string(++S.serial);
        S.issued.insert(token);
        return send(200, json{{"token", token}}.dump());
    }
    const std::string auth = req.header("authorization");
    bool allowed = true;
    if (!S.opt.token.empty()) allowed = auth == "token=" + S.opt.token;
    else if (!S.opt.username.empty() && S.opt.dcos_uid.empty()) allowed = auth == "Basic " + b64(S.opt.username + ":" + S.opt.password);
    else if (!S.opt.dcos_uid.empty()) allowed = auth.rfind("token=", 0) == 0 && S.issued.count(auth.substr(6));
    if (S.unauthorized > 0) {
        --S.unauthorized;
        allowed = false;
    }
    if (!allowed) return send(401, R"({"message":"Unauthorized"})");
    if (req.path == "/ping") return reply.send({200, {{"Content-Type", "text/plain"}}, "pong"});
    if ((req.path == "/v2/apps/" || req.path == "/v2/apps") && req.method == "GET") {
        ++S.app_requests;
        if (S.malformed) {
            S.malformed = false;
            return send(200, R"({"apps":[{"id":"/broken",)");
        }
        json apps = S.apps;
        if (req.param("embed") != "apps.tasks")
            for (auto& a : apps) a.erase("tasks");
        return send(200, json{{"apps", apps}}.dump());
    }
    send(404, R"({"message":"not found"})");
}

}  // namespace herd::test
