// Package all registers every classifier with package facts; import it for
// its side effect.
package all

import (
	_ "github.com/toolgate/toolgate/internal/facts/pathfacts"
	_ "github.com/toolgate/toolgate/internal/facts/shellfacts"
	_ "github.com/toolgate/toolgate/internal/facts/sqlfacts"
	_ "github.com/toolgate/toolgate/internal/facts/urlfacts"
)
