#include "tls.hpp"

#include <csignal>
#include <stdexcept>

namespace herd::test {

void make_pki(const fs::path& dir) {
    auto made = run({"bash", "-ec",
                     "cd '" + dir.string() + "'\n"
                     "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=herd-test-ca 2>/dev/null\n"
                     "openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 1 -subj /CN=other-ca 2>/dev/null\n"
                     "for who in server client; do\n"
                     "  openssl req -newkey rsa:2048 -nodes -keyout $who.key -out $who.csr -subj /CN=$who 2>/dev/null\n"
                     "  printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' > $who.ext\n"
                     "  openssl x509 -req -in $who.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out $who.crt -days 1 -extfile $who.ext 2>/dev/null\n"
                     "done\n"});
    if (made.code != 0) throw std::runtime_error("openssl could not make the test PKI: " + made.err);
}

void expire_certificate(const fs::path& dir, const std::string& who) {
    auto made = run({"bash", "-ec", "cd '" + dir.string() + "'\n"
                     "openssl x509 -req -in " + who + ".csr -CA ca.crt -CAkey ca.key -CAcreateserial -out " + who + ".crt -days 0 "
                     "-extfile " + who + ".ext 2>/dev/null\n"});
    if (made.code != 0) throw std::runtime_error("openssl could not re-sign the " + who + " certificate: " + made.err);
    // notAfter is the signing second: expired as soon as the clock moves past it.
    if (!eventually([&] { return run({"openssl", "x509", "-in", (dir / (who + ".crt")).string(), "-noout", "-checkend", "0"}).code != 0; },
                    std::chrono::seconds(5)))
        throw std::runtime_error("the re-signed " + who + " certificate did not expire");
}

TlsTerminator::TlsTerminator(const fs::path& pki, uint16_t upstream_port) : port_(free_port()) {
    const std::string d = dir_.path().string(), p = pki.string();
    write_file(dir_ / "nginx.conf",
               "master_process off;\ndaemon off;\nuser root;\npid " + d + "/nginx.pid;\nerror_log " + d + "/error.log warn;\n"
               "events { worker_connections 256; }\n"
               "http {\n  access_log off;\n  client_max_body_size 16m;\n"
               "  client_body_temp_path " + d + "/body;\n  proxy_temp_path " + d + "/proxy;\n"
               "  fastcgi_temp_path " + d + "/fastcgi;\n  uwsgi_temp_path " + d + "/uwsgi;\n  scgi_temp_path " + d + "/scgi;\n"
               "  server {\n    listen 127.0.0.1:" + std::to_string(port_) + " ssl;\n"
               "    ssl_certificate " + p + "/server.crt;\n    ssl_certificate_key " + p + "/server.key;\n"
               "    ssl_client_certificate " + p + "/ca.crt;\n    ssl_verify_client on;\n"
               "    location / {\n      proxy_pass http://127.0.0.1:" + std::to_string(upstream_port) + ";\n"
               "      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_buffering off;\n"
               "      proxy_read_timeout 15m;\n    }\n  }\n}\n");
    nginx_ = std::make_unique<Process>(std::vector<std::string>{"/usr/sbin/nginx", "-c", d + "/nginx.conf", "-p", d}, dir_.path(), "nginx");
    if (!eventually([&] {
            return run({"curl", "-s", "-k", "-o", "/dev/null", "--cert", p + "/client.crt", "--key",
                        p + "/client.key", url() + "/"}, std::chrono::seconds(5)).code == 0;
        }, std::chrono::seconds(20)))
        throw std::runtime_error("nginx (TLS terminator) did not come up: " + nginx_->err() + read_file(dir_ / "error.log"));
}

TlsTerminator::~TlsTerminator() {
    nginx_->signal(SIGTERM);  // one process (master_process off): nothing is left behind
    nginx_->wait(std::chrono::seconds(10));
}

}  // namespace herd::test
