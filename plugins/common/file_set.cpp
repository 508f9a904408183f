#include "file_set.hpp"

#include "atomic_file.hpp"

#include <herd/sdk/error.hpp>
#include <herd/sdk/sink_support.hpp>

#include <cstdio>
#include <set>
#include <sstream>

namespace herd::files {

namespace fs = std::filesystem;

namespace {
constexpr const char* kManifest = ".herd-sink-manifest";  // no .json/.yml: agents' globs never read it
constexpr const char* kManifestHeader = "herd-sink-manifest 1";

bool ends_with(std::string_view s, std::string_view e) { return s.size() > e.size() && s.substr(s.size() - e.size()) == e; }
}  // namespace

std::string file_for(std::string_view item, std::string_view media_type) {
    const char* ext = media_type == HERD_SINK_SCRAPE_CONFIG   ? ".yml"
                      : media_type == HERD_SINK_TARGET_GROUPS ? ".json"
                      : media_type == HERD_SINK_CHECK_CONFIG  ? ".yaml"
                                                              : "";
    std::string f(item);
    if (*ext && !ends_with(f, ext) && !(std::string_view(ext) == ".yml" && ends_with(f, ".yaml")) &&
        !(std::string_view(ext) == ".yaml" && ends_with(f, ".yml")))
        f += ext;
    return f;
}

FileSet::FileSet(fs::path dir) : dir_(std::move(dir)) {
    bool exists = false;
    const std::string text = files::read_file(dir_ / kManifest, &exists);
    if (!exists) return;
    std::istringstream in(text);
    std::string line;
    if (!std::getline(in, line) || line != kManifestHeader)
        throw sdk::Error(HERD_ERR_INVALID_ARGUMENT, (dir_ / kManifest).string() + " is not a manifest this sink wrote");
    while (std::getline(in, line)) {
        // fingerprint \t media type \t item \t file
        std::vector<std::string> f;
        std::stringstream ls(line);
        for (std::string part; std::getline(ls, part, '\t');) f.push_back(part);
        if (f.size() != 4) continue;
        owned_[f[3]] = Owned{f[2], f[1], std::stoull(f[0], nullptr, 16)};
    }
}

void FileSet::save_manifest(const std::map<std::string, Owned>& m) const {
    std::string out = std::string(kManifestHeader) + "\n";
    out.reserve(m.size() * 96);
    char fp[17];
    for (const auto& [file, o] : m) {
        std::snprintf(fp, sizeof fp, "%016llx", static_cast<unsigned long long>(o.fingerprint));
        out.append(fp).append("\t").append(o.media_type).append("\t").append(o.item).append("\t").append(file).append("\n");
    }
    files::write_atomic(dir_ / kManifest, out);
}

FileSet::Plan FileSet::plan(std::span<const sdk::SinkItemView> items) const {
    Plan p;
    std::vector<std::pair<std::string, std::string>> refused;
    std::map<std::string, std::string> item_of_file;
    for (const auto& it : items) {
        if (auto why = sdk::check_item_name(it.name); !why.empty()) {
            refused.emplace_back(std::string(it.name), why);
            continue;
        }
        if (it.media_type.find_first_of("\t\n\r") != std::string_view::npos || it.media_type.empty()) {
            refused.emplace_back(std::string(it.name), "invalid media type");
            continue;
        }
        const std::string file = file_for(it.name, it.media_type);
        if (file == kManifest || file.front() == '.' || file.find("/.") != std::string::npos) {
            refused.emplace_back(std::string(it.name), "a file name starting with '.' is reserved");
            continue;
        }
        if (auto [at, fresh] = item_of_file.emplace(file, std::string(it.name)); !fresh) {
            refused.emplace_back(std::string(it.name), "goes to the same file (" + file + ") as item \"" + at->second + "\"");
            continue;
        }
        Owned o{std::string(it.name), std::string(it.media_type), sdk::fingerprint(it.body)};
        auto was = owned_.find(file);
        const bool same = was != owned_.end() && was->second.fingerprint == o.fingerprint &&
                          was->second.media_type == o.media_type && was->second.item == o.item;
        if (!same) {
            // Never overwrite a file this sink did not write: it is somebody's own.
            std::error_code ec;
            if (was == owned_.end() && fs::exists(dir_ / file, ec)) {
                refused.emplace_back(std::string(it.name), (dir_ / file).string() + " exists and was not written by this sink");
                continue;
            }
            p.write.emplace(file, std::make_pair(it.body, o));
        }
        p.next.emplace(file, std::move(o));
    }
    if (!refused.empty()) {
        std::string msg = std::to_string(refused.size()) + " item(s) refused: ";
        for (size_t i = 0; i < refused.size() && i < 3; ++i)
            msg += (i ? "; " : "") + ("\"" + refused[i].first + "\" " + refused[i].second);
        throw sdk::SinkRefused(HERD_ERR_INVALID_ARGUMENT, msg, std::move(refused));
    }
    for (const auto& [file, o] : owned_)
        if (!p.next.count(file)) p.remove.push_back(file);
    return p;
}

std::map<std::string, std::optional<std::string>> FileSet::carry_out(const Plan& p) {
    std::map<std::string, std::optional<std::string>> before;
    for (const auto& [file, w] : p.write) {
        bool exists = false;
        std::string old = owned_.count(file) ? files::read_file(dir_ / file, &exists) : std::string();
        before[file] = exists ? std::optional<std::string>(std::move(old)) : std::nullopt;
    }
    for (const auto& file : p.remove) {
        bool exists = false;
        std::string old = files::read_file(dir_ / file, &exists);
        before[file] = exists ? std::optional<std::string>(std::move(old)) : std::nullopt;
    }
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (!swept_) remove_stale_temporaries();
    // Intent: every file that may exist after a crash from here on is in the manifest (needed only
    // when the apply creates files the manifest does not list yet).
    bool adds = false;
    for (const auto& [file, w] : p.write) adds = adds || !owned_.count(file);
    if (adds) {
        auto intent = owned_;
        for (const auto& [file, w] : p.write) intent[file] = w.second;
        save_manifest(intent);
    }
    files::AtomicBatch batch;
    for (const auto& [file, w] : p.write) batch.add(dir_ / file, w.first);
    for (const auto& file : p.remove) batch.remove(dir_ / file);
    batch.commit();
    save_manifest(p.next);
    owned_ = p.next;
    return before;
}

void FileSet::undo(const std::map<std::string, std::optional<std::string>>& before,
                   std::map<std::string, Owned> previous) {
    files::AtomicBatch batch;
    for (const auto& [file, content] : before) {
        if (content) batch.add(dir_ / file, *content);
        else batch.remove(dir_ / file);
    }
    batch.commit();
    save_manifest(previous);
    owned_ = std::move(previous);
}

void FileSet::remove_stale_temporaries() {
    swept_ = true;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir_, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        const std::string n = it->path().filename().string();
        // Only this sink's own temporaries (".<file>.herd-<n>.tmp"): nobody else's files.
        if (n.size() > 10 && n.front() == '.' && n.find(".herd-") != std::string::npos && ends_with(n, ".tmp"))
            fs::remove(it->path(), ec);
    }
}

std::vector<sdk::SinkItem> FileSet::held() const {
    std::vector<sdk::SinkItem> out;
    for (const auto& [file, o] : owned_) {
        bool exists = false;
        std::string body = files::read_file(dir_ / file, &exists);
        if (exists) out.push_back({o.item, o.media_type, std::move(body)});
    }
    return out;
}

}  // namespace herd::files
