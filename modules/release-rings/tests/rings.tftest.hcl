# Runs against a real gateway: `make test-modules` starts one and sets the
# provider's WASMBED_* environment variables.

provider "wasmbed" {}

variables {
  name             = "mt-sensor"
  labels           = { role = "sensor" }
  wait_for_rollout = false
}

run "canary_and_stable" {
  variables {
    rings = [
      { name = "canary", version = "2.0.0", module_path = "../../bin/apps/sensor.wasm" },
      { name = "stable", version = "1.0.0", module_path = "../../bin/apps/sensor.wasm", max_unavailable = 3 },
    ]
  }

  assert {
    condition     = output.rings["canary"].application == "mt-sensor-canary" && output.rings["stable"].version == "1.0.0"
    error_message = "one application per ring, named <name>-<ring>"
  }
  assert {
    condition     = wasmbed_application.ring["stable"].selector.labels["ring"] == "stable" && wasmbed_application.ring["stable"].selector.labels["role"] == "sensor"
    error_message = "the ring label is added to the common labels"
  }
  assert {
    condition     = wasmbed_application.ring["stable"].rollout.max_unavailable == 3
    error_message = "max_unavailable not passed"
  }
}

run "promote_stable" {
  variables {
    rings = [
      { name = "canary", version = "2.0.0", module_path = "../../bin/apps/sensor.wasm" },
      { name = "stable", version = "2.0.0", module_path = "../../bin/apps/sensor.wasm", max_unavailable = 3 },
    ]
  }

  assert {
    condition     = output.rings["stable"].version == "2.0.0" && output.rings["stable"].generation == 2 && output.rings["canary"].generation == 1
    error_message = "promotion changes only the stable ring"
  }
}

run "duplicate_rings_refused" {
  command = plan
  variables {
    rings = [
      { name = "a", version = "1", module_path = "../../bin/apps/sensor.wasm" },
      { name = "a", version = "2", module_path = "../../bin/apps/sensor.wasm" },
    ]
  }
  expect_failures = [var.rings]
}
