// A configuration problem with the place it comes from, printed as file:line:col: message.
#pragma once

#include <string>
#include <vector>

namespace herd::config {

struct Position {
    int line = 0;
    int column = 0;
};

struct Diagnostic {
    std::string file;
    Position pos;
    std::string message;

    std::string str() const {
        if (pos.line <= 0) return file + ": " + message;
        return file + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column) + ": " + message;
    }
};

using Diagnostics = std::vector<Diagnostic>;

}  // namespace herd::config
