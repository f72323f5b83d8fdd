resource "wasmbed_device" "greenhouse_1" {
  name  = "greenhouse-1"
  board = "linux"
}

resource "wasmbed_device" "greenhouse_2" {
  name  = "greenhouse-2"
  board = "stm32f4-discovery"
}

# The bundle the device needs on its first start. The enrollment token is
# minted at apply (never at plan) while the device has not enrolled, and
# reaches the file only, never the state.
resource "wasmbed_provisioning_bundle" "greenhouse_1" {
  device   = wasmbed_device.greenhouse_1.name
  gateways = ["10.0.1.10:8081"]
  path     = "${path.module}/out/greenhouse-1.json"
}

# A firmware device: the bundle also goes into a copy of the board's firmware
# image, ready to flash (or to boot under QEMU). Set token_wo_version (later:
# bump it) to provision the device again from scratch: the next apply mints a
# new token even though the device has enrolled.
resource "wasmbed_provisioning_bundle" "greenhouse_2" {
  device            = wasmbed_device.greenhouse_2.name
  gateways          = ["10.0.1.10:8081"]
  server_name       = "gateway-1.fleet.example"
  path              = "${path.module}/out/greenhouse-2.json"
  token_ttl_seconds = 3600
  firmware_image    = "${path.module}/firmware/stm32f4-discovery.elf"
  firmware_output   = "${path.module}/out/greenhouse-2.elf"
}
