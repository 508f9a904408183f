// Writes keys "k<i>" to a kv_sqlite file and prints each key's revision once put() returned:
// every line printed is a write that was acknowledged. The durability test kills it with -9.
#include "sqlite_store.hpp"

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
    if (argc != 3) return 2;
    herd::kv_sqlite::Store store(argv[1], std::chrono::seconds(5), 1000000);
    const int n = std::stoi(argv[2]);
    for (int i = 0; i < n; ++i) {
        int64_t rev = store.put("k" + std::to_string(i), std::string(100, 'v'), HERD_KV_EXPECT_ANY, 0);
        std::printf("%d %lld\n", i, static_cast<long long>(rev));
        std::fflush(stdout);
    }
    return 0;
}
