// Command boardgen writes the board facts of board/boards.toml into the files
// that use them: the Go profiles (board/profiles_gen.go), the firmware's
// constants (firmware/device/src/board/facts.rs) and memory maps
// (firmware/device/boards/<board>/memory.x), the emulators' board table
// (firmware/emulator/boards_gen.go), the CRDs' board enum
// (api/v1alpha1/board_gen.go) and docs/abi.md's board table.
//
//	go run ./board/boardgen            write them (make generate)
//	go run ./board/boardgen -check     list the files that differ, exit 1 if any
//
// It runs from the repository root (or -root). The TOML is read with
// github.com/BurntSushi/toml (already in the module graph, no dependencies of
// its own), strictly: an unknown key is an error, so a typo cannot silently
// leave a fact at zero.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

func main() {
	root := flag.String("root", ".", "the repository root")
	check := flag.Bool("check", false, "only report the files that differ from board/boards.toml")
	flag.Parse()
	stale, err := run(*root, !*check)
	if err != nil {
		fmt.Fprintln(os.Stderr, "boardgen:", err)
		os.Exit(1)
	}
	if *check && len(stale) > 0 {
		fmt.Fprintln(os.Stderr, "boardgen: these files differ from board/boards.toml (run make generate):")
		for _, f := range stale {
			fmt.Fprintln(os.Stderr, "  "+f)
		}
		os.Exit(1)
	}
}

// run renders every file and either writes the ones that differ (write) or
// only lists them. Memory maps of boards that left the TOML (or lost their
// firmware) are removed, or listed.
func run(root string, write bool) (stale []string, err error) {
	src, err := os.ReadFile(filepath.Join(root, factsFile))
	if err != nil {
		return nil, err
	}
	f, err := parse(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", factsFile, err)
	}
	abiDoc, err := os.ReadFile(filepath.Join(root, abiDocFile))
	if err != nil {
		return nil, err
	}
	files, err := render(f, abiDoc)
	if err != nil {
		return nil, err
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		full := filepath.Join(root, p)
		old, err := os.ReadFile(full)
		if err == nil && bytes.Equal(old, files[p]) {
			continue
		}
		stale = append(stale, p)
		if write {
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(full, files[p], 0o644); err != nil {
				return nil, err
			}
		}
	}
	dirs, err := os.ReadDir(filepath.Join(root, memoryDir))
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		p := filepath.Join(memoryDir, d.Name(), "memory.x")
		if _, ours := files[p]; ours {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			continue
		}
		stale = append(stale, p+" (no such firmware board)")
		if write {
			if err := os.RemoveAll(filepath.Join(root, memoryDir, d.Name())); err != nil {
				return nil, err
			}
		}
	}
	return stale, nil
}
