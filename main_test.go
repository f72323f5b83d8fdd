package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// terraformBinary is the CLI the provider tests run: TF_ACC_TERRAFORM_PATH
// (make testacc sets it to terraform, then to OpenTofu), else terraform on
// PATH. Without one the test fails: it is not skipped.
func terraformBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TF_ACC_TERRAFORM_PATH"); p != "" {
		return p
	}
	p, err := exec.LookPath("terraform")
	if err != nil {
		t.Fatal("no terraform binary: set TF_ACC_TERRAFORM_PATH or run make setup (bin/tofu)")
	}
	return p
}

// The built provider binary is found and served over plugin protocol 6 by
// the real Terraform (or OpenTofu) CLI, which reads its schema from it.
func TestProviderBinaryServesSchemaToCLI(t *testing.T) {
	tf := terraformBinary(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "terraform-provider-wasmbed"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	rc := filepath.Join(dir, "cli.tfrc")
	write(t, rc, `provider_installation {
  dev_overrides {
    "wasmbed/wasmbed" = "`+bin+`"
  }
  direct {}
}
`)
	write(t, filepath.Join(dir, "main.tf"), `terraform {
  required_providers {
    wasmbed = { source = "wasmbed/wasmbed" }
  }
}
provider "wasmbed" {}
`)
	cmd := exec.Command(tf, "providers", "schema", "-json")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+rc, "TF_IN_AUTOMATION=1")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s providers schema: %v\n%s", tf, err, stderr)
	}
	var schema struct {
		ProviderSchemas map[string]struct {
			Provider struct {
				Block struct {
					Attributes map[string]struct {
						Sensitive bool `json:"sensitive"`
					} `json:"attributes"`
				} `json:"block"`
			} `json:"provider"`
		} `json:"provider_schemas"`
	}
	if err := json.Unmarshal(out, &schema); err != nil {
		t.Fatalf("schema JSON: %v", err)
	}
	if len(schema.ProviderSchemas) != 1 {
		t.Fatalf("want one provider schema, got %d", len(schema.ProviderSchemas))
	}
	for addr, s := range schema.ProviderSchemas {
		if filepath.Base(addr) != "wasmbed" {
			t.Errorf("provider address %s", addr)
		}
		attrs := s.Provider.Block.Attributes
		if _, ok := attrs["endpoint"]; !ok {
			t.Errorf("%s: no endpoint attribute in %v", addr, attrs)
		}
		if !attrs["token"].Sensitive {
			t.Errorf("%s: token not sensitive", addr)
		}
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The SDK's loggers are turned off unless a TF_LOG* variable asks for logs.
func TestQuietSDKLogs(t *testing.T) {
	for _, tc := range []struct {
		env   []string
		quiet bool
	}{
		{[]string{"HOME=/root", "PATH=/bin"}, true},
		{[]string{"TF_LOG=", "TF_LOG_PATH=/tmp/tf.log"}, true},
		{[]string{"TF_LOG=trace"}, false},
		{[]string{"TF_LOG_PROVIDER=debug"}, false},
		{[]string{"TF_LOG_SDK_FRAMEWORK=trace"}, false},
		{[]string{"TF_LOG_PROVIDER_WASMBED=info"}, false},
	} {
		set := map[string]string{}
		quietSDKLogs(tc.env, func(k, v string) error { set[k] = v; return nil })
		if tc.quiet != (len(set) > 0) {
			t.Errorf("%v: set %v, want quiet=%v", tc.env, set, tc.quiet)
		}
		for _, k := range []string{"TF_LOG_SDK", "TF_LOG_SDK_PROTO", "TF_LOG_SDK_FRAMEWORK", "TF_LOG_PROVIDER_WASMBED"} {
			if tc.quiet && set[k] != "OFF" {
				t.Errorf("%v: %s=%q, want OFF", tc.env, k, set[k])
			}
		}
	}
}
