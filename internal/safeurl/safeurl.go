// Package safeurl decides which URLs toolgate fetches trust material from
// (identity providers' discovery and keys, toolgate's own JWKS): https, or
// plain http only to this machine. Keys fetched over plain HTTP from
// anywhere else could be replaced on the way, and with them every identity
// and every per-call token.
package safeurl

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Check accepts an absolute https URL, or an http URL whose host is
// loopback (localhost, 127.0.0.0/8, ::1).
func Check(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if IsLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q is plain http to a host that is not loopback; use https", raw)
	default:
		return fmt.Errorf("%q is not an https URL", raw)
	}
}

// IsLoopback tells whether host (a name or an IP address) is this machine.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
