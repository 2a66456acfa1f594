// Package all registers every classifier with package facts; import it for
// its side effect.
package all

import (
	_ "github.com/toolgate/toolgate/internal/facts/sqlfacts"
)
