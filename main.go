// Command terraform-provider-wasmbed serves the wasmbed Terraform provider
// over plugin protocol 6.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/wasmbed/wasmbed/provider"
)

// version is set by goreleaser.
var version = "dev"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider for debuggers such as delve")
	flag.Parse()
	quietSDKLogs(os.Environ(), os.Setenv)
	lessGC()

	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: "registry.terraform.io/wasmbed/wasmbed",
		Debug:   debug,
	})
	// The spans still buffered, if tracing is on (each operation exported
	// its own already): within the CLI's grace before it kills the plugin.
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	if serr := provider.ShutdownTracing(ctx); serr != nil {
		log.Print(serr)
	}
	cancel()
	if err != nil {
		log.Fatal(err)
	}
}

// quietSDKLogs turns the plugin SDK's own logging off when no TF_LOG*
// variable asks for logs. Terraform and OpenTofu discard a provider's log
// lines unless TF_LOG (or TF_LOG_PROVIDER) is set, but the SDK's loggers
// default to TRACE: every gRPC call was formatted into JSON lines, written to
// the plugin's stderr, sent to the CLI and parsed there, only to be dropped,
// about a quarter of the provider's CPU in a no-op plan of 1,000 devices
// (bench/terraform.sh). With any TF_LOG* variable set, nothing changes.
func quietSDKLogs(environ []string, set func(key, value string) error) {
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TF_LOG") && k != "TF_LOG_PATH" && v != "" {
			return
		}
	}
	for _, k := range []string{"TF_LOG_SDK", "TF_LOG_SDK_PROTO", "TF_LOG_SDK_FRAMEWORK", "TF_LOG_PROVIDER_WASMBED"} {
		_ = set(k, "OFF")
	}
}

// lessGC makes the collector run less often (GOGC 400) unless GOGC is set. A
// provider process lives for one CLI walk and keeps little, but every gRPC
// call of the framework allocates (440 MB over a no-op plan of 1,000
// devices): at the default GOGC the collector took a quarter of the
// provider's CPU there. A soft limit of 512 MiB (unless GOMEMLIMIT is set)
// makes it collect more often again should a very large configuration get
// near it.
func lessGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(512 << 20)
	}
}
