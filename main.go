// Command terraform-provider-wasmbed serves the wasmbed Terraform provider
// over plugin protocol 6.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/wasmbed/wasmbed/provider"
)

// version is set by goreleaser.
var version = "dev"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider for debuggers such as delve")
	flag.Parse()

	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: "registry.terraform.io/wasmbed/wasmbed",
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err)
	}
}
