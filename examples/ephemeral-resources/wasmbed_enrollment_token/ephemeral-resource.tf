# A one-time token for a device's provisioning, never stored in state.
ephemeral "wasmbed_enrollment_token" "greenhouse_1" {
  device      = wasmbed_device.greenhouse_1.name
  ttl_seconds = 3600
}
