//go:build tools

// Package tools pins OpenTofu (the `tofu` CLI) for offline acceptance tests;
// built by tools/setup.sh.
package tools

import _ "github.com/opentofu/opentofu/cmd/tofu"
