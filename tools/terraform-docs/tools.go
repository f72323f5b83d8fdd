//go:build tools

// Package tools pins terraform-docs, which renders the input and output tables
// of the modules' READMEs (scripts/generate-docs.sh); built by tools/setup.sh.
package tools

import _ "github.com/terraform-docs/terraform-docs"
