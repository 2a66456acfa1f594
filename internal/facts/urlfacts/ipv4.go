package urlfacts

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// Browsers, curl and the C library's inet_aton read a host made of numbers
// as an IPv4 address even when it is not written as four decimal bytes:
// 0x7f.1, 2130706433, 0177.0.0.1 and 127.1 all reach 127.0.0.1. net/url and
// net/netip do not, and no Go library implements the WHATWG URL standard's
// IPv4 parser, so it is implemented here, step for step, from
// https://url.spec.whatwg.org/#concept-ipv4-parser.

var errNotIPv4 = errors.New("host ends in a number but is not a valid IPv4 address")

// endsInNumber is the standard's "ends in a number checker": when true, the
// host must be an IPv4 address, and a browser rejects the URL otherwise.
func endsInNumber(host string) bool {
	parts := strings.Split(host, ".")
	if parts[len(parts)-1] == "" {
		if len(parts) == 1 {
			return false
		}
		parts = parts[:len(parts)-1]
	}
	last := parts[len(parts)-1]
	if last != "" && allDigits(last) {
		return true
	}
	_, ok := ipv4Number(last)
	return ok
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ipv4Number parses one part: 0x… hexadecimal, 0… octal, else decimal.
func ipv4Number(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	base := 10
	switch {
	case len(s) >= 2 && (s[:2] == "0x" || s[:2] == "0X"):
		s, base = s[2:], 16
	case len(s) >= 2 && s[0] == '0':
		s, base = s[1:], 8
	}
	if s == "" {
		return 0, true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= '0' && c <= '9'
		if base == 16 {
			ok = ok || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
		} else if base == 8 {
			ok = c >= '0' && c <= '7'
		}
		if !ok {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, base, 64)
	if err != nil {
		// Too large for 64 bits: certainly out of range, but a number.
		return 1 << 63, true
	}
	return n, true
}

// parseIPv4 implements the standard's IPv4 parser.
func parseIPv4(host string) (netip.Addr, error) {
	parts := strings.Split(host, ".")
	if parts[len(parts)-1] == "" && len(parts) > 1 {
		parts = parts[:len(parts)-1]
	}
	if len(parts) > 4 {
		return netip.Addr{}, errNotIPv4
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		n, ok := ipv4Number(p)
		if !ok {
			return netip.Addr{}, errNotIPv4
		}
		nums[i] = n
	}
	for _, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, errNotIPv4
		}
	}
	last := nums[len(nums)-1]
	if last >= uint64(1)<<(8*(5-len(nums))) {
		return netip.Addr{}, errNotIPv4
	}
	v := last
	for i, n := range nums[:len(nums)-1] {
		v += n << (8 * (3 - i))
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), nil
}
