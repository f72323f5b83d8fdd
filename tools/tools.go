//go:build tools

// Package tools pins the versions of Go tools used to develop Wasmbed.
// They are built by tools/setup.sh, never linked into the project itself.
package tools

import (
	_ "github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs"
	_ "github.com/smallstep/certificates/cmd/step-ca"
	_ "github.com/smallstep/cli/cmd/step"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
