# An API token by name (its secret is not imported: rotate it to get one).
terraform import wasmbed_api_token.ci ci-deployer
