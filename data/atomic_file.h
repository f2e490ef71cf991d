// Writing a file so that its final name never holds a partial file: the content goes to a
// temporary name in the same folder (same extension, so libraries that choose a format by
// extension still do), is flushed to disk, then renamed over the final name in one step.
// Testing aid: CTV_TEST_PAUSE_BEFORE_PUBLISH_MS=N pauses N ms before publishing (atomic_file.cpp).
#pragma once

#include <filesystem>
#include <functional>
#include <stdexcept>

namespace ctv::data {

class FileWriteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Calls write(temporary_path) and then publishes the result under `file`.
// requires: write creates the temporary file or throws.
// ensures: on success `file` holds the complete content, fsync'd; on any failure (write
//          throws, the disk is full, the rename fails) `file` is untouched and the temporary
//          is removed.
// throws FileWriteError (naming `file`) when `file` exists and overwrite is false, when its
//        folder does not exist, or on an I/O fault; rethrows what `write` throws.
void write_file_atomically(const std::filesystem::path& file,
                           const std::function<void(const std::filesystem::path&)>& write,
                           bool overwrite);

// The temporary name used for `file`: ".<stem>.tmp-<pid>-<n><extensions>" in its folder.
std::filesystem::path temporary_name_for(const std::filesystem::path& file);

}  // namespace ctv::data
