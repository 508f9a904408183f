// DC/OS service-account login, as mpp does it: a JWT {"uid": ...} signed RS256 with the account's
// private key (OpenSSL), POSTed to the login endpoint, which answers with the token Marathon takes
// as "Authorization: token=<token>". Accounts with a password log in with it instead.
#pragma once

#include <string>
#include <string_view>

namespace herd::sd_marathon {

struct DcosCredentials {
    std::string uid, login_endpoint, private_key_pem, password;
};

// The credentials file mpp and DC/OS use: {"uid", "login_endpoint", "private_key" | "password"}.
// Throws sdk::ConfigError naming what is missing or wrong.
DcosCredentials parse_dcos_credentials(const std::string& json_text, const std::string& file);

std::string base64url(std::string_view raw);  // no padding
// header.payload.signature for {"alg":"RS256","typ":"JWT"} / {"uid": uid}. Throws on a bad key.
std::string rs256_jwt(const std::string& uid, const std::string& private_key_pem);

}  // namespace herd::sd_marathon
