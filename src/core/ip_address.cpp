// IpAddress and Cidr parsing and matching.
#include "core/ip_address.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace sb {

namespace {

constexpr std::array<uint8_t, 12> kV4MappedPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// inet_pton wants a NUL-terminated string; a stack copy avoids allocating one.
bool pton(int family, std::string_view text, void* out) {
  std::array<char, INET6_ADDRSTRLEN + 1> buffer{};
  if (text.empty() || text.size() >= buffer.size()) return false;
  std::memcpy(buffer.data(), text.data(), text.size());
  return inet_pton(family, buffer.data(), out) == 1;
}

std::optional<unsigned> parse_prefix(std::string_view text) {
  if (text.empty() || text.size() > 3) return std::nullopt;
  unsigned value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value;
}

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  IpAddress address;
  if (parse_plain(text, address)) return address;
  if (text.size() > 2 && text.front() == '[') {  // "[v6]" or "[v6]:port"
    const size_t close = text.find(']');
    if (close != std::string_view::npos &&
        pton(AF_INET6, text.substr(1, close - 1), address.bytes_.data())) {
      return address;
    }
    return std::nullopt;
  }
  const size_t colon = text.find(':');  // "v4:port": exactly one colon, so not IPv6
  if (colon != std::string_view::npos && text.find(':', colon + 1) == std::string_view::npos &&
      text.find('.') < colon && parse_plain(text.substr(0, colon), address)) {
    return address;
  }
  return std::nullopt;
}

bool IpAddress::parse_plain(std::string_view text, IpAddress& address) {
  std::array<uint8_t, 4> v4{};
  if (pton(AF_INET, text, v4.data())) {
    std::memcpy(address.bytes_.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size());
    std::memcpy(address.bytes_.data() + 12, v4.data(), v4.size());
    return true;
  }
  return pton(AF_INET6, text, address.bytes_.data());
}

IpAddress IpAddress::from(const boost::asio::ip::address& address) {
  IpAddress out;
  if (address.is_v4()) {
    const auto v4 = address.to_v4().to_bytes();
    std::memcpy(out.bytes_.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size());
    std::memcpy(out.bytes_.data() + 12, v4.data(), v4.size());
  } else {
    const auto v6 = address.to_v6().to_bytes();
    std::memcpy(out.bytes_.data(), v6.data(), v6.size());
  }
  return out;
}

bool IpAddress::is_v4() const {
  return std::memcmp(bytes_.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size()) == 0;
}

std::string_view IpAddress::to_text(std::array<char, kTextSize>& out) const {
  static_assert(kTextSize >= INET6_ADDRSTRLEN);
  const bool v4 = is_v4();
  if (inet_ntop(v4 ? AF_INET : AF_INET6, bytes_.data() + (v4 ? 12 : 0), out.data(), out.size()) ==
      nullptr) {
    return {};
  }
  return {out.data(), std::strlen(out.data())};
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  const size_t slash = text.find('/');
  const std::string_view address_text = text.substr(0, slash);
  Cidr cidr;
  if (!IpAddress::parse_plain(address_text, cidr.base_)) return std::nullopt;
  // The width the text was written in: "::ffff:10.0.0.0/104" is IPv6 notation.
  const unsigned width = address_text.find(':') == std::string_view::npos ? 32 : 128;
  cidr.prefix_ = 128;
  if (slash != std::string_view::npos) {
    const auto prefix = parse_prefix(text.substr(slash + 1));
    if (!prefix || *prefix > width) return std::nullopt;
    cidr.prefix_ = *prefix + (128 - width);
  }
  // Host bits must be zero.
  for (unsigned bit = cidr.prefix_; bit < 128; ++bit) {
    if ((cidr.base_.bytes_[bit / 8] >> (7 - bit % 8)) & 1) return std::nullopt;
  }
  return cidr;
}

bool Cidr::contains(const IpAddress& address) const {
  const unsigned whole = prefix_ / 8;
  if (std::memcmp(address.bytes_.data(), base_.bytes_.data(), whole) != 0) return false;
  const unsigned rest = prefix_ % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (address.bytes_[whole] & mask) == (base_.bytes_[whole] & mask);
}

}  // namespace sb
