resource "wasmbed_device" "greenhouse_1" {
  name  = "greenhouse-1"
  board = "linux"
}

# A one-time token for a device, never stored in state, to pass to something
# that provisions the device (a bundle of your own, another provider's
# write-only argument). Pass the device's id, not its name: the id is unknown
# until the device is registered, so Terraform opens the token at apply rather
# than at a plan where the device does not exist yet.
ephemeral "wasmbed_enrollment_token" "greenhouse_1" {
  device      = wasmbed_device.greenhouse_1.id
  ttl_seconds = 3600
}

# wasmbed_provisioning_bundle mints its own token when token_wo is omitted
# (the usual form); this one writes the ephemeral token instead.
resource "wasmbed_provisioning_bundle" "greenhouse_1" {
  device   = wasmbed_device.greenhouse_1.name
  gateways = ["10.0.1.10:8081"]
  path     = "${path.module}/out/greenhouse-1.json"
  token_wo = ephemeral.wasmbed_enrollment_token.greenhouse_1.token
}
