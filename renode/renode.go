// Package renode holds the Renode platform descriptions of the boards that run in
// Renode (renode/*.repl: each board's stock Renode platform with the clocks its
// firmware sets up), for firmware/emulator; the Robot suites and the .resc scripts
// beside them load the same files.
package renode

import (
	"embed"
	"fmt"
)

//go:embed *.repl *.cs
var platforms embed.FS

// peripherals: the models (C# sources, compiled by Renode when included) a board's
// platform description uses beyond Renode's own, by board.
var peripherals = map[string][]string{
	// The link's UARTE1 (NRF52840_UARTE.cs: the stock model writes past RXD.MAXCNT).
	"nano33ble": {"NRF52840_UARTE.cs"},
}

// File is a file a board's Renode platform needs.
type File struct {
	Name string // base name, as in renode/
	Data []byte
}

// Peripherals returns the peripheral models board's platform description needs
// (renode/*.cs), to be included (`include @file.cs`) before it is loaded.
func Peripherals(board string) ([]File, error) {
	var out []File
	for _, n := range peripherals[board] {
		b, err := platforms.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("renode: %s: %w", n, err)
		}
		out = append(out, File{n, b})
	}
	return out, nil
}

// Platform returns the platform description (.repl) for board.
func Platform(board string) (string, error) {
	b, err := platforms.ReadFile(board + ".repl")
	if err != nil {
		return "", fmt.Errorf("renode: no platform description for board %s (renode/%s.repl)", board, board)
	}
	return string(b), nil
}
