# A version reaches the fleet in steps: the canaries first (2 devices
# labelled ring = canary), then 10 %, 50 % and every device, each step
# baking 5 minutes under the health gates. One failed device halts the
# rollout and brings the devices that took the version back to the last
# one that passed; the devices that never got it are not touched.
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
    steps = [
      { devices = 2 },
      { percent = 10 },
      { percent = 50 },
      { percent = 100, bake_seconds = 0 },
    ]
    canary         = { ring = "canary" }
    bake_seconds   = 300
    step_failures  = { count = 0 }
    total_failures = { percent = 2 }
    on_failure     = "rollback"

    # The app publishes health = 1 while it is fine (publish("health", 1)).
    health = { key = "health", min = 1, max_age_seconds = 60 }
  }

  # Long enough for every step and its bake.
  timeouts = {
    create = "30m"
    update = "30m"
  }
}
