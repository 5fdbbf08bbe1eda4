// IP addresses as 16 bytes (IPv4 as IPv4-mapped IPv6, so one form covers both) and CIDR ranges:
// parsing without allocation, for trusted_proxies and the client address ip_hash sticks to.
#pragma once

#include <array>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sb {

class IpAddress {
 public:
  IpAddress() = default;
  // "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1"; also "[2001:db8::1]" and an IPv4 address with
  // a port ("192.0.2.1:8080"), forms proxies are known to put in X-Forwarded-For.
  static std::optional<IpAddress> parse(std::string_view text);
  static IpAddress from(const boost::asio::ip::address& address);

  bool is_v4() const;
  // The address as text ("192.0.2.1", "2001:db8::1"), written into `out`, which it fits.
  static constexpr size_t kTextSize = 46;  // INET6_ADDRSTRLEN
  std::string_view to_text(std::array<char, kTextSize>& out) const;
  // The 16 bytes, as hash input.
  std::string_view bytes() const {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }
  bool operator==(const IpAddress&) const = default;

 private:
  friend class Cidr;
  // Exactly an IPv4 or IPv6 address, nothing around it.
  static bool parse_plain(std::string_view text, IpAddress& address);
  std::array<uint8_t, 16> bytes_{};
};

class Cidr {
 public:
  // "10.0.0.0/8", "2001:db8::/32", or a single address ("127.0.0.1" = /32, "::1" = /128). Bits
  // beyond the prefix must be zero ("10.0.0.1/8" is refused as a likely typo).
  static std::optional<Cidr> parse(std::string_view text);
  bool contains(const IpAddress& address) const;

 private:
  IpAddress base_;
  unsigned prefix_ = 0;  // in bits of the 16-byte form: an IPv4 /8 is 96 + 8
};

}  // namespace sb
