// Package renode holds the Renode platform descriptions of the boards that run in
// Renode (renode/*.repl: each board's stock Renode platform with the clocks its
// firmware sets up), for firmware/emulator; the Robot suites and the .resc scripts
// beside them load the same files.
package renode

import (
	"embed"
	"fmt"
)

//go:embed *.repl
var platforms embed.FS

// Platform returns the platform description (.repl) for board.
func Platform(board string) (string, error) {
	b, err := platforms.ReadFile(board + ".repl")
	if err != nil {
		return "", fmt.Errorf("renode: no platform description for board %s (renode/%s.repl)", board, board)
	}
	return string(b), nil
}
