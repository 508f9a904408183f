#include "k8s_double.hpp"

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

namespace herd::test {

using nlohmann::json;
using clock_type = std::chrono::steady_clock;

namespace {

const std::map<std::string, std::pair<std::string, std::string>> kinds = {  // collection -> kind, apiVersion
    {"pods", {"Pod", "v1"}},
    {"services", {"Service", "v1"}},
    {"endpoints", {"Endpoints", "v1"}},
    {"endpointslices", {"EndpointSlice", "discovery.k8s.io/v1"}},
    {"nodes", {"Node", "v1"}},
    {"namespaces", {"Namespace", "v1"}},
    {"ingresses", {"Ingress", "networking.k8s.io/v1"}},
    {"replicasets", {"ReplicaSet", "apps/v1"}},
    {"jobs", {"Job", "batch/v1"}}};

json status(int code, const std::string& reason, const std::string& message) {
    return {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", json::object()}, {"status", "Failure"},
            {"message", message}, {"reason", reason}, {"code", code}};
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string cur;
    std::istringstream in(s);
    while (std::getline(in, cur, sep))
        if (!cur.empty()) out.push_back(cur);
    return out;
}

// labelSelector terms: k=v, k==v, k!=v, k, !k.
bool labels_match(const json& obj, const std::string& selector) {
    const json labels = obj["metadata"].value("labels", json::object());
    for (const auto& term : split(selector, ',')) {
        if (term[0] == '!') {
            if (labels.contains(term.substr(1))) return false;
        } else if (auto ne = term.find("!="); ne != std::string::npos) {
            if (labels.value(term.substr(0, ne), std::string("\x01")) == term.substr(ne + 2)) return false;
        } else if (auto eq = term.find('='); eq != std::string::npos) {
            const size_t vstart = term.compare(eq, 2, "==") == 0 ? eq + 2 : eq + 1;
            if (labels.value(term.substr(0, eq), std::string("\x01")) != term.substr(vstart)) return false;
        } else if (!labels.contains(term)) {
            return false;
        }
    }
    return true;
}

// fieldSelector terms on metadata.name / metadata.namespace: f=v, f==v, f!=v.
bool fields_match(const json& obj, const std::string& selector) {
    for (const auto& term : split(selector, ',')) {
        const bool negate = term.find("!=") != std::string::npos;
        const auto op = negate ? term.find("!=") : term.find('=');
        if (op == std::string::npos) return false;
        const std::string field = term.substr(0, op);
        std::string value = term.substr(op + (negate ? 2 : 1));
        if (!value.empty() && value[0] == '=') value.erase(0, 1);
        std::string actual;
        if (field == "metadata.name") actual = obj["metadata"].value("name", "");
        else if (field == "metadata.namespace") actual = obj["metadata"].value("namespace", "");
        else return false;
        if ((actual == value) == negate) return false;
    }
    return true;
}

}  // namespace

struct K8sDouble::State {
    Options opt;
    mutable std::mutex mu;
    std::condition_variable changed;
    int64_t rv = 1000;
    int64_t compacted = 0;  // watches from a version below this get 410
    std::map<std::string, std::map<std::string, json>> objects;  // collection -> ns/name -> object
    struct Event {
        int64_t rv;
        std::string collection, type;
        json object;
    };
    std::deque<Event> history;
    // faults
    int expire = -1;  // -1 none, else (int)Expire
    bool cut = false, bookmarks_only = false, malformed = false;
    int unauthorized = 0;
    std::chrono::milliseconds delay{0};
    size_t lists = 0, watches = 0;
    std::vector<std::string> queries;

    static std::string key(const json& o) {
        const std::string ns = o["metadata"].value("namespace", "");
        return ns.empty() ? o["metadata"].value("name", "") : ns + "/" + o["metadata"].value("name", "");
    }
    void record(const std::string& collection, const std::string& type, const json& o) {
        history.push_back({rv, collection, type, o});
        if (history.size() > 100000) history.pop_front();
        changed.notify_all();
    }
};

K8sDouble::K8sDouble() : K8sDouble(Options{}) {}

K8sDouble::K8sDouble(Options o) : state_(std::make_unique<State>()) {
    state_->opt = std::move(o);
    server_ = std::make_unique<HttpDouble>([this](const DoubleRequest& r, DoubleReply& reply) { handle(r, reply); },
                                           [s = state_.get()] {
                                               std::lock_guard lk(s->mu);
                                               s->changed.notify_all();
                                           });
}

K8sDouble::~K8sDouble() { server_.reset(); }

std::string K8sDouble::apply(const std::string& collection, json o) {
    std::lock_guard lk(state_->mu);
    auto& S = *state_;
    const auto& [kind, api] = kinds.at(collection);
    o["kind"] = kind;
    o["apiVersion"] = api;
    o["metadata"]["resourceVersion"] = std::to_string(++S.rv);
    if (!o["metadata"].contains("uid")) o["metadata"]["uid"] = "uid-" + State::key(o);
    const std::string k = State::key(o);
    const bool existed = S.objects[collection].count(k) > 0;
    S.objects[collection][k] = o;
    S.record(collection, existed ? "MODIFIED" : "ADDED", o);
    return std::to_string(S.rv);
}

std::string K8sDouble::remove(const std::string& collection, const std::string& ns, const std::string& name) {
    std::lock_guard lk(state_->mu);
    auto& S = *state_;
    const std::string k = ns.empty() ? name : ns + "/" + name;
    auto it = S.objects[collection].find(k);
    if (it == S.objects[collection].end()) return std::to_string(S.rv);
    json o = it->second;
    S.objects[collection].erase(it);
    o["metadata"]["resourceVersion"] = std::to_string(++S.rv);
    S.record(collection, "DELETED", o);
    return std::to_string(S.rv);
}

void K8sDouble::compact() {
    std::lock_guard lk(state_->mu);
    state_->compacted = state_->rv + 1;
    state_->history.clear();
}

void K8sDouble::expire_next_watch(Expire how) {
    std::lock_guard lk(state_->mu);
    state_->expire = static_cast<int>(how);
}
void K8sDouble::cut_next_watch_mid_line() {
    std::lock_guard lk(state_->mu);
    state_->cut = true;
}
void K8sDouble::bookmarks_only_next_watch() {
    std::lock_guard lk(state_->mu);
    state_->bookmarks_only = true;
}
void K8sDouble::malformed_next_list() {
    std::lock_guard lk(state_->mu);
    state_->malformed = true;
}
void K8sDouble::unauthorized_next(int n) {
    std::lock_guard lk(state_->mu);
    state_->unauthorized = n;
}
void K8sDouble::slow(std::chrono::milliseconds d) {
    std::lock_guard lk(state_->mu);
    state_->delay = d;
}
void K8sDouble::set_token(std::string t) {
    std::lock_guard lk(state_->mu);
    state_->opt.token = std::move(t);
}
size_t K8sDouble::lists() const {
    std::lock_guard lk(state_->mu);
    return state_->lists;
}
size_t K8sDouble::watches() const {
    std::lock_guard lk(state_->mu);
    return state_->watches;
}
bool K8sDouble::saw_query(const std::string& part) const {
    std::lock_guard lk(state_->mu);
    for (const auto& q : state_->queries)
        if (q.find(part) != std::string::npos) return true;
    return false;
}

void K8sDouble::handle(const DoubleRequest& req, DoubleReply& reply) {
    State& S = *state_;
    auto send_json = [&](int code, const json& body) { reply.send({code, {{"Content-Type", "application/json"}}, body.dump() + "\n"}); };
    std::unique_lock lk(S.mu);
    if (S.delay.count() > 0) {
        const auto d = S.delay;
        lk.unlock();
        std::this_thread::sleep_for(d);  // a slow server is what is being simulated
        lk.lock();
    }
    const std::string auth = req.header("authorization");
    if (S.unauthorized > 0 || (!S.opt.token.empty() && auth != "Bearer " + S.opt.token)) {
        if (S.unauthorized > 0) --S.unauthorized;
        return send_json(401, status(401, "Unauthorized", "Unauthorized"));
    }
    // /api/v1[/namespaces/{ns}]/{collection} or /apis/{group}/{version}[/namespaces/{ns}]/{collection};
    // a collection is served only under its own group and version, as the API server does.
    std::string rest, api_version;
    if (req.path.rfind("/api/v1/", 0) == 0) {
        rest = req.path.substr(8);
        api_version = "v1";
    } else if (req.path.rfind("/apis/", 0) == 0) {
        auto gv = split(req.path.substr(6), '/');
        if (gv.size() < 3) return send_json(404, status(404, "NotFound", "the server could not find the requested resource"));
        api_version = gv[0] + "/" + gv[1];
        rest = req.path.substr(6 + gv[0].size() + 1 + gv[1].size() + 1);
    } else {
        return send_json(404, status(404, "NotFound", "the server could not find the requested resource"));
    }
    std::string ns;
    auto parts = split(rest, '/');
    if (parts.size() == 3 && parts[0] == "namespaces") {
        ns = parts[1];
        parts = {parts[2]};
    }
    if (parts.size() != 1 || !kinds.count(parts[0]) || kinds.at(parts[0]).second != api_version)
        return send_json(404, status(404, "NotFound", "the server could not find the requested resource"));
    const std::string collection = parts[0];
    const std::string labels = req.param("labelSelector"), fields = req.param("fieldSelector");
    auto matches = [&](const json& o) {
        return (ns.empty() || o["metadata"].value("namespace", "") == ns) && labels_match(o, labels) && fields_match(o, fields);
    };
    S.queries.push_back(req.target.substr(req.target.find('?') == std::string::npos ? req.target.size() : req.target.find('?') + 1));

    if (!req.has("watch") || req.param("watch") == "0" || req.param("watch") == "false") {
        ++S.lists;
        if (S.malformed) {
            S.malformed = false;
            return reply.send({200, {{"Content-Type", "application/json"}}, "{\"kind\":\"PodList\",\"items\":[{\"metadata\":"});
        }
        std::vector<const json*> all;
        for (const auto& [k, o] : S.objects[collection])
            if (matches(o)) all.push_back(&o);
        const size_t limit = req.has("limit") ? std::stoul(req.param("limit")) : all.size();
        const size_t from = req.has("continue") ? std::stoul(req.param("continue")) : 0;
        json items = json::array();
        for (size_t i = from; i < all.size() && i < from + std::max<size_t>(limit, 1); ++i) {
            json item = *all[i];
            item.erase("kind");  // list items carry no kind/apiVersion
            item.erase("apiVersion");
            items.push_back(std::move(item));
        }
        const size_t next = from + items.size();
        json list{{"kind", kinds.at(collection).first + "List"}, {"apiVersion", kinds.at(collection).second},
                  {"metadata", {{"resourceVersion", std::to_string(S.rv)}, {"continue", next < all.size() ? std::to_string(next) : ""}}},
                  {"items", std::move(items)}};
        return send_json(200, list);
    }

    ++S.watches;
    const std::string from_rv = req.param("resourceVersion");
    const int64_t from = from_rv.empty() ? 0 : std::stoll(from_rv);
    const auto until = clock_type::now() + std::chrono::seconds(std::stoll(req.param("timeoutSeconds", "1800")));
    const bool bookmarks = req.param("allowWatchBookmarks") == "true";
    const std::string kind = kinds.at(collection).first, api = kinds.at(collection).second;
    auto line = [&](const std::string& type, const json& o) { return json{{"type", type}, {"object", o}}.dump() + "\n"; };
    auto bookmark = [&] {
        return line("BOOKMARK", {{"kind", kind}, {"apiVersion", api}, {"metadata", {{"resourceVersion", std::to_string(S.rv)}}}});
    };
    const int expire = S.expire;
    S.expire = -1;
    if (from > 0 && (from < S.compacted - 1 || expire == static_cast<int>(Expire::http_status))) {
        if (expire == static_cast<int>(Expire::in_stream)) {
            reply.begin(200, {{"Content-Type", "application/json"}});
            reply.write(line("ERROR", status(410, "Expired", "too old resource version: " + from_rv + " (" + std::to_string(S.compacted) + ")")));
            return;
        }
        return send_json(410, status(410, "Expired", "too old resource version: " + from_rv + " (" + std::to_string(S.compacted) + ")"));
    }
    reply.begin(200, {{"Content-Type", "application/json"}, {"Cache-Control", "no-cache, private"}});
    if (expire == static_cast<int>(Expire::in_stream)) {
        reply.write(line("ERROR", status(410, "Expired", "too old resource version: " + from_rv + " (" + std::to_string(S.rv) + ")")));
        return;
    }
    const bool cut = S.cut, only_bookmarks = S.bookmarks_only;
    S.cut = S.bookmarks_only = false;
    int64_t sent = from;
    if (from == 0) {  // no version: the current state as synthetic ADDED events first
        for (const auto& [k, o] : S.objects[collection])
            if (matches(o) && !reply.write(line("ADDED", o))) return;
        sent = S.rv;
    }
    auto next_bookmark = clock_type::now() + (S.opt.bookmark_interval.count() ? S.opt.bookmark_interval : std::chrono::hours(1));
    while (!reply.stopping()) {
        if (only_bookmarks) {
            if (!reply.write(bookmark())) return;
            sent = S.rv;
        } else {
            for (const auto& e : S.history) {
                if (e.rv <= sent || e.collection != collection || !matches(e.object)) continue;
                std::string l = line(e.type, e.object);
                if (cut) {  // half an event, then the connection drops
                    reply.write(l.substr(0, l.size() / 2));
                    return;
                }
                if (!reply.write(l)) return;
            }
            sent = S.rv;
        }
        const auto now = clock_type::now();
        if (now >= until) return;  // timeoutSeconds: the normal end of a watch
        if (bookmarks && now >= next_bookmark) {
            if (!reply.write(bookmark())) return;
            next_bookmark = now + S.opt.bookmark_interval;
        }
        const auto wake = std::min(until, only_bookmarks ? now + std::chrono::milliseconds(100) : next_bookmark);
        S.changed.wait_until(lk, wake, [&] { return S.rv > sent || reply.stopping(); });
    }
}

}  // namespace herd::test
