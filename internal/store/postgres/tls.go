package postgres

import (
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// TLSWarning says why the connection to the database at connURL can be
// read or changed on the network, or "" if it cannot: a database on
// another host reached without TLS, or with TLS whose certificate is not
// checked (sslmode other than verify-ca or verify-full, libpq's default
// "prefer" included, which also falls back to plain text). The store holds
// the trail, the signing keys and every revocation: someone on the path
// could forge them. A database on this host (loopback, a Unix socket) is
// not warned about.
func TLSWarning(connURL string) string {
	cfg, err := pgconn.ParseConfig(connURL)
	if err != nil {
		return "" // Open reports it
	}
	var weak []string
	for _, c := range append([]*pgconn.FallbackConfig{{Host: cfg.Host, Port: cfg.Port, TLSConfig: cfg.TLSConfig}}, cfg.Fallbacks...) {
		if local(c.Host) {
			continue
		}
		switch {
		case c.TLSConfig == nil:
			weak = append(weak, fmt.Sprintf("%s without TLS", c.Host))
		case c.TLSConfig.InsecureSkipVerify && c.TLSConfig.VerifyPeerCertificate == nil:
			weak = append(weak, fmt.Sprintf("%s with TLS whose certificate is not checked", c.Host))
		}
	}
	if len(weak) == 0 {
		return ""
	}
	return "the database is reached at " + strings.Join(dedupe(weak), ", ") +
		": whoever is on the network path could read or change tasks, revocations, signing keys and the audit trail; set sslmode=verify-full (and sslrootcert) in the store URL"
}

func local(host string) bool {
	if strings.HasPrefix(host, "/") || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func dedupe(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
