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

# A firmware device: the bundle also goes into a copy of the board's firmware
# image, ready to flash (or to boot under QEMU).
ephemeral "wasmbed_enrollment_token" "greenhouse_2" {
  device = wasmbed_device.greenhouse_2.id
}

resource "wasmbed_provisioning_bundle" "greenhouse_2" {
  device          = wasmbed_device.greenhouse_2.name
  gateways        = ["10.0.1.10:8081"]
  server_name     = "gateway-1.fleet.example"
  path            = "${path.module}/out/greenhouse-2.json"
  token_wo        = ephemeral.wasmbed_enrollment_token.greenhouse_2.token
  firmware_image  = "${path.module}/firmware/stm32f4-discovery.elf"
  firmware_output = "${path.module}/out/greenhouse-2.elf"
}
