#pragma once
#include <cstddef>
#include <cstring>
#include <span>
#include <vector>

namespace schemagate::proxy {

/// A receive buffer: bytes [0, size) are valid; reads append at size().
/// Grows only when one frame needs more room than it has, and shrinks back when idle,
/// so an idle connection costs `initial` bytes.
class IoBuffer {
 public:
  explicit IoBuffer(std::size_t initial) : initial_(initial) {}

  std::byte* data() { return bytes_.data(); }
  std::size_t size() const { return size_; }
  std::span<const std::byte> span(std::size_t from = 0) const { return {bytes_.data() + from, size_ - from}; }

  /// Free space after size(); makes sure there are at least `min_free` bytes.
  std::span<std::byte> prepare(std::size_t min_free = 1) {
    if (bytes_.empty()) bytes_.resize(initial_);
    if (bytes_.size() - size_ < min_free) bytes_.resize(size_ + min_free);
    return {bytes_.data() + size_, bytes_.size() - size_};
  }
  void commit(std::size_t n) { size_ += n; }

  /// Drops the first n bytes (what was forwarded or handled).
  void consume(std::size_t n) {
    if (n >= size_) {
      size_ = 0;
    } else if (n > 0) {
      std::memmove(bytes_.data(), bytes_.data() + n, size_ - n);
      size_ -= n;
    }
    if (size_ == 0 && bytes_.size() > 4 * initial_) std::vector<std::byte>(initial_).swap(bytes_);
  }
  /// Makes room for a frame of `total` bytes starting at offset 0.
  void reserve_total(std::size_t total) {
    if (bytes_.size() < total) bytes_.resize(total);
  }

 private:
  std::vector<std::byte> bytes_;
  std::size_t size_ = 0;
  std::size_t initial_;
};

}  // namespace schemagate::proxy
