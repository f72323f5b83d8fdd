data "wasmbed_application" "sensor" {
  name = "sensor"
}

output "sensor_rollout" {
  value = {
    converged = data.wasmbed_application.sensor.converged
    devices   = { for d in data.wasmbed_application.sensor.devices : d.device => d.state }
  }
}
