data "wasmbed_devices" "offline_sensors" {
  labels = { role = "sensor" }
  phase  = "offline"
}

output "offline_sensors" {
  value = [for d in data.wasmbed_devices.offline_sensors.devices : d.name]
}
