ephemeral "wasmbed_enrollment_token" "greenhouse_1" {
  device = wasmbed_device.greenhouse_1.id
}

# The bundle the device needs on its first start; the token reaches the
# file, never the state.
resource "wasmbed_provisioning_bundle" "greenhouse_1" {
  device   = wasmbed_device.greenhouse_1.name
  gateways = ["10.0.1.10:8081"]
  path     = "${path.module}/out/greenhouse-1.json"
  token_wo = ephemeral.wasmbed_enrollment_token.greenhouse_1.token
}
