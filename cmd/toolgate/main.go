// Command toolgate is runtime enforcement for AI-agent tool calls. All
// behaviour lives in internal/cli and the packages it wires.
package main

import (
	"os"

	"github.com/toolgate/toolgate/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
