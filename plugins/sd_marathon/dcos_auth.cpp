#include "dcos_auth.hpp"

#include "curl_http.hpp"

#include <herd/sdk/error.hpp>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>

namespace herd::sd_marathon {

DcosCredentials parse_dcos_credentials(const std::string& text, const std::string& file) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw sdk::ConfigError("dcos_credentials_file", file + " is not a JSON object");
    DcosCredentials c;
    c.uid = j.value("uid", "");
    c.login_endpoint = j.value("login_endpoint", "");
    c.private_key_pem = j.value("private_key", "");
    c.password = j.value("password", "");
    if (c.uid.empty()) throw sdk::ConfigError("dcos_credentials_file", file + " has no \"uid\"");
    if (c.login_endpoint.empty()) throw sdk::ConfigError("dcos_credentials_file", file + " has no \"login_endpoint\"");
    if (c.private_key_pem.empty() == c.password.empty())
        throw sdk::ConfigError("dcos_credentials_file", file + " needs exactly one of \"private_key\" and \"password\"");
    if (!c.private_key_pem.empty()) {
        try {
            rs256_jwt(c.uid, c.private_key_pem);  // a key that cannot sign is a configuration error now, not at login
        } catch (const sdk::Error& e) {
            throw sdk::ConfigError("dcos_credentials_file", file + ": " + e.what());
        }
    }
    return c;
}

std::string base64url(std::string_view raw) {
    std::string s = net::base64(raw);
    for (auto& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
    while (!s.empty() && s.back() == '=') s.pop_back();
    return s;
}

std::string rs256_jwt(const std::string& uid, const std::string& pem) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
    if (!key || EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, "private_key is not an RSA private key in PEM");
    const std::string signing_input = base64url(R"({"alg":"RS256","typ":"JWT"})") + "." + base64url(nlohmann::json{{"uid", uid}}.dump());
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    size_t len = 0;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) != 1)
        throw sdk::Error(HERD_ERR_INTERNAL, "RS256 signing failed");
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) != 1)
        throw sdk::Error(HERD_ERR_INTERNAL, "RS256 signing failed");
    sig.resize(len);
    return signing_input + "." + base64url(sig);
}

}  // namespace herd::sd_marathon
