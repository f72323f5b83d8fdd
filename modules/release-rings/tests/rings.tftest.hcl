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
  # The default policy: progressive, by steps, rolled back on failure.
  assert {
    condition = (length(wasmbed_application.ring["stable"].rollout.steps) == 4 &&
      wasmbed_application.ring["stable"].rollout.steps[0].devices == 1 &&
      wasmbed_application.ring["stable"].rollout.steps[3].percent == 100 &&
      wasmbed_application.ring["stable"].rollout.bake_seconds == 60 &&
    wasmbed_application.ring["stable"].rollout.on_failure == "rollback")
    error_message = "the default rollout policy: steps 1 device, 10 %, 50 %, 100 %, bake 60 s, rollback"
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

# A policy of one's own reaches every ring's application; apply waits for
# each ring's rollout to complete (no device is in these rings: it
# completes at once).
run "own_policy_waits" {
  variables {
    wait_for_rollout = true
    timeout          = "1m"
    rings = [
      { name = "canary", version = "2.1.0", module_path = "../../bin/apps/blinker.wasm" },
      { name = "stable", version = "2.0.0", module_path = "../../bin/apps/sensor.wasm", max_unavailable = 3 },
    ]
    rollout = {
      steps          = [{ devices = 2 }, { percent = 25, bake_seconds = 0 }]
      canary         = { hw = "rev-a" }
      bake_seconds   = 5
      step_failures  = { count = 1 }
      total_failures = { percent = 2 }
      health         = { key = "health", min = 1 }
      on_failure     = "pause"
    }
  }

  assert {
    condition = (wasmbed_application.ring["canary"].rollout.on_failure == "pause" &&
      wasmbed_application.ring["canary"].rollout.steps[1].bake_seconds == 0 &&
      wasmbed_application.ring["canary"].rollout.step_failures.count == 1 &&
      wasmbed_application.ring["canary"].rollout.total_failures.percent == 2 &&
      wasmbed_application.ring["canary"].rollout.health.key == "health" &&
    wasmbed_application.ring["stable"].rollout.canary["hw"] == "rev-a")
    error_message = "the rollout policy is passed to every ring"
  }
  assert {
    condition     = output.rings["canary"].version == "2.1.0" && output.rings["canary"].module_sha256 == filesha256("../../bin/apps/blinker.wasm")
    error_message = "the canary ring runs 2.1.0 (its rollout completed)"
  }
}

# Empty steps: no steps, and none of the progressive fields.
run "no_steps" {
  variables {
    rings = [
      { name = "canary", version = "2.1.0", module_path = "../../bin/apps/blinker.wasm" },
    ]
    rollout = { steps = [] }
  }

  assert {
    condition     = wasmbed_application.ring["canary"].rollout.steps == null && wasmbed_application.ring["canary"].rollout.on_failure == null
    error_message = "without steps the progressive fields are not set"
  }
}

run "bad_on_failure_refused" {
  command = plan
  variables {
    rings = [
      { name = "canary", version = "1", module_path = "../../bin/apps/sensor.wasm" },
    ]
    rollout = { on_failure = "ignore" }
  }
  expect_failures = [var.rollout]
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
