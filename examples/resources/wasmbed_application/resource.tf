resource "wasmbed_application" "sensor" {
  name        = "sensor"
  version     = "1.2.0"
  module_path = "${path.module}/sensor.wasm"
  config      = { offset = "0" }

  limits = {
    fuel    = 100000
    memory  = 65536
    tick_ms = 1000
  }

  selector = {
    labels = { role = "sensor" }
    boards = ["stm32f4-discovery", "nano33ble"]
  }

  rollout = {
    strategy        = "batched"
    max_unavailable = 2
  }

  timeouts = {
    create = "5m"
    update = "5m"
  }
}
