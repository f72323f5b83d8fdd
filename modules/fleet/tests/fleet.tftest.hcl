# Runs against a real gateway: `make test-modules` starts one and sets
# WASMBED_ENDPOINT, WASMBED_TOKEN and WASMBED_CA_CERT_FILE for the provider.

provider "wasmbed" {}

variables {
  bundle_dir        = "../../.test/modules/fleet/bundles"
  gateway_endpoints = ["127.0.0.1:8081"]
  server_name       = "localhost"
  firmware_dir      = "../../bin/firmware"
  wait_for_rollout  = false # no device runs in this test
  devices = {
    "mt-gh-1" = { board = "stm32f4-discovery", labels = { role = "sensor", zone = "north" } }
    "mt-gh-2" = { board = "nano33ble", labels = { role = "sensor", zone = "south" } }
    "mt-pump" = { board = "mps2-an386", labels = { role = "actuator" } }
  }
}

run "devices_bundles_and_apps" {
  variables {
    applications = {
      sensor  = { version = "1.0.0", module_path = "../../bin/apps/sensor.wasm", labels = { role = "sensor" }, config = { offset = "5" } }
      blinker = { version = "0.1.0", module_path = "../../bin/apps/blinker.wasm", labels = { role = "actuator" }, max_unavailable = 1 }
    }
  }

  assert {
    condition     = length(output.devices) == 3 && output.devices["mt-gh-2"] == "nano33ble"
    error_message = "devices not registered as given"
  }
  assert {
    condition     = alltrue([for p in values(output.bundles) : fileexists(p)])
    error_message = "a provisioning bundle was not written"
  }
  assert {
    condition     = jsondecode(file(output.bundles["mt-gh-1"])).device == "mt-gh-1" && startswith(jsondecode(file(output.bundles["mt-gh-1"])).token, "wbt_")
    error_message = "bundle lacks the device name or its token"
  }
  assert {
    # nano33ble and the others have images in bin/firmware (make firmware).
    condition     = length(output.firmware_images) == 3 && alltrue([for p in values(output.firmware_images) : fileexists(p)])
    error_message = "a provisioned firmware image was not written"
  }
  assert {
    condition     = filesha256(output.firmware_images["mt-gh-1"]) != filesha256("../../bin/firmware/stm32f4-discovery.elf")
    error_message = "the firmware image was copied without the bundle in it"
  }
  assert {
    condition     = wasmbed_application.this["blinker"].rollout.strategy == "batched" && wasmbed_application.this["sensor"].rollout.strategy == "all_at_once"
    error_message = "rollout strategy not derived from max_unavailable"
  }
  assert {
    condition     = output.applications["sensor"].generation == 1
    error_message = "first generation is not 1"
  }
}

run "new_version_bumps_the_generation" {
  variables {
    applications = {
      sensor  = { version = "1.1.0", module_path = "../../bin/apps/sensor.wasm", labels = { role = "sensor" }, config = { offset = "5" } }
      blinker = { version = "0.1.0", module_path = "../../bin/apps/blinker.wasm", labels = { role = "actuator" }, max_unavailable = 1 }
    }
  }

  assert {
    condition     = output.applications["sensor"].generation == 2 && output.applications["blinker"].generation == 1
    error_message = "only the changed application gets a new generation"
  }
}

run "bad_device_name_refused" {
  command = plan
  variables {
    devices = { "no spaces" = { board = "linux" } }
  }
  expect_failures = [var.devices]
}

run "firmware_without_server_name_refused" {
  command = plan
  variables {
    server_name = null
  }
  expect_failures = [var.firmware_dir]
}
