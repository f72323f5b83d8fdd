//go:build tools

// Package tools pins kube-apiserver and kubectl (k8s.io/kubernetes) for
// envtest-style tests; built by tools/setup.sh.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
