data "wasmbed_gateway" "main" {
  name = "gateway"
}
