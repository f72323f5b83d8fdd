# Runs against a real gateway: `make test-modules` starts one and sets
# WASMBED_ENDPOINT, WASMBED_TOKEN and WASMBED_CA_CERT_FILE for the provider.

provider "wasmbed" {}

variables {
  site         = "mt-north"
  gateway      = { addresses = ["127.0.0.1:8081", "[::1]:8081"], labels = { region = "eu" }, capacity = 500 }
  labels       = { owner = "ops", site = "overridden" }
  bundle_dir   = "../../.test/modules/gateway-site/bundles"
  server_name  = "localhost"
  firmware_dir = "../../bin/firmware"
  rings        = [{ name = "canary", per_board = 1 }, { name = "stable" }]
  devices = {
    "mt-north-a1" = { board = "stm32f4-discovery" }
    "mt-north-a2" = { board = "stm32f4-discovery" }
    "mt-north-a3" = { board = "stm32f4-discovery", labels = { role = "pump" } }
    "mt-north-b1" = { board = "mps2-an386" }
    "mt-north-c1" = { board = "linux", ring = "stable" }
    "mt-north-c2" = { board = "linux" }
  }
}

run "gateway_devices_and_rings" {
  assert {
    condition = (output.gateway_id == "mt-north" && wasmbed_gateway.this.capacity == 500 &&
    jsonencode(wasmbed_gateway.this.labels) == jsonencode({ region = "eu", site = "mt-north" }))
    error_message = "the gateway is registered under the site's name, with the site label"
  }
  assert {
    condition     = alltrue([for d in values(wasmbed_device.this) : d.gateway == "mt-north"])
    error_message = "every device belongs to the site's gateway"
  }
  assert {
    condition = jsonencode(output.devices_by_board) == jsonencode({
      "linux"             = ["mt-north-c1", "mt-north-c2"]
      "mps2-an386"        = ["mt-north-b1"]
      "stm32f4-discovery" = ["mt-north-a1", "mt-north-a2", "mt-north-a3"]
    })
    error_message = "devices not grouped by board"
  }
  # One canary per board (the first by name without a ring of its own), the
  # rest stable; mt-north-c1 is pinned to stable.
  assert {
    condition = jsonencode(output.devices_by_ring) == jsonencode({
      canary = ["mt-north-a1", "mt-north-b1", "mt-north-c2"]
      stable = ["mt-north-a2", "mt-north-a3", "mt-north-c1"]
    })
    error_message = "rings not assigned per board"
  }
  # The labels as the gateway holds them: the module's own override the rest.
  assert {
    condition = jsonencode(wasmbed_device.this["mt-north-a3"].labels) == jsonencode({
      board = "stm32f4-discovery", owner = "ops", ring = "stable", role = "pump", site = "mt-north"
    })
    error_message = "a device's labels are not its own, the common ones and site, board and ring"
  }
  assert {
    condition     = jsonencode(output.site_labels) == jsonencode({ site = "mt-north" })
    error_message = "site_labels is not the site label"
  }
  assert {
    condition     = length(output.bundles) == 6 && alltrue([for p in values(output.bundles) : fileexists(p)])
    error_message = "a provisioning bundle was not written"
  }
  assert {
    condition = (jsondecode(file(output.bundles["mt-north-c2"])).device == "mt-north-c2" &&
      jsonencode(jsondecode(file(output.bundles["mt-north-c2"])).gateways) == jsonencode(["127.0.0.1:8081", "[::1]:8081"]) &&
    startswith(jsondecode(file(output.bundles["mt-north-c2"])).token, "wbt_"))
    error_message = "a bundle does not point at the site's gateway, or lacks its device or token"
  }
  assert {
    # Images exist for the firmware boards (make firmware), not for linux.
    condition     = jsonencode(sort(keys(output.firmware_images))) == jsonencode(["mt-north-a1", "mt-north-a2", "mt-north-a3", "mt-north-b1"])
    error_message = "provisioned firmware images not written for exactly the firmware boards"
  }
}

# Two canaries per board; the gateway renamed: it is registered again and the
# devices move to it.
run "wider_canary_and_renamed_gateway" {
  variables {
    gateway = { name = "mt-north-gw", addresses = ["127.0.0.1:8082"] }
    rings   = [{ name = "canary", per_board = 2 }, { name = "stable" }]
  }

  assert {
    condition = jsonencode(output.devices_by_ring) == jsonencode({
      canary = ["mt-north-a1", "mt-north-a2", "mt-north-b1", "mt-north-c2"]
      stable = ["mt-north-a3", "mt-north-c1"]
    })
    error_message = "per_board = 2 does not put two devices of each board in the canary ring"
  }
  assert {
    condition     = wasmbed_device.this["mt-north-a2"].labels["ring"] == "canary"
    error_message = "the new ring did not reach the gateway"
  }
  assert {
    condition     = output.gateway_id == "mt-north-gw" && alltrue([for d in values(wasmbed_device.this) : d.gateway == "mt-north-gw"])
    error_message = "the devices did not move to the renamed gateway"
  }
  assert {
    condition     = jsonencode(output.gateway_addresses) == jsonencode(["127.0.0.1:8082"])
    error_message = "the gateway's addresses did not change"
  }
}

# Three rings, boards short of devices for them (only stm32f4-discovery
# reaches the second), custom label keys, no bundles.
run "three_rings_custom_labels_no_bundles" {
  variables {
    bundle_dir   = null
    firmware_dir = null
    site_label   = "location"
    ring_label   = "wave"
    rings        = [{ name = "dogfood", per_board = 1 }, { name = "early", per_board = 1 }, { name = "stable" }]
  }

  assert {
    condition = jsonencode(output.devices_by_ring) == jsonencode({
      dogfood = ["mt-north-a1", "mt-north-b1", "mt-north-c2"]
      early   = ["mt-north-a2"]
      stable  = ["mt-north-a3", "mt-north-c1"]
    })
    error_message = "three rings not filled board by board"
  }
  assert {
    condition     = wasmbed_device.this["mt-north-a2"].labels["wave"] == "early" && wasmbed_device.this["mt-north-a2"].labels["location"] == "mt-north" && !contains(keys(wasmbed_device.this["mt-north-a2"].labels), "ring")
    error_message = "custom label keys not used"
  }
  assert {
    condition     = length(output.bundles) == 0 && length(output.firmware_images) == 0
    error_message = "bundles written without bundle_dir"
  }
}

# No rings: only a device that sets one is in a ring.
run "no_rings" {
  variables {
    bundle_dir   = null
    firmware_dir = null
    rings        = []
    devices = {
      "mt-north-a1" = { board = "stm32f4-discovery", ring = "beta" }
      "mt-north-a2" = { board = "stm32f4-discovery" }
    }
  }

  assert {
    condition     = jsonencode(output.devices_by_ring) == jsonencode({ beta = ["mt-north-a1"] })
    error_message = "only the device that sets a ring is in one"
  }
  assert {
    condition     = !contains(keys(wasmbed_device.this["mt-north-a2"].labels), "ring") && output.devices["mt-north-a2"].ring == null
    error_message = "a device in no ring has a ring label"
  }
}

run "unknown_ring_refused" {
  command = plan
  variables {
    devices = { "mt-north-x" = { board = "linux", ring = "nightly" } }
  }
  expect_failures = [var.devices]
}

run "ring_without_per_board_refused" {
  command = plan
  variables {
    devices = { "mt-north-x" = { board = "linux" } }
    rings   = [{ name = "canary" }, { name = "stable" }]
  }
  expect_failures = [var.rings]
}

run "duplicate_rings_refused" {
  command = plan
  variables {
    devices = { "mt-north-x" = { board = "linux" } }
    rings   = [{ name = "canary", per_board = 1 }, { name = "canary" }]
  }
  expect_failures = [var.rings]
}

run "bad_gateway_address_refused" {
  command = plan
  variables {
    gateway = { addresses = ["no-port"] }
  }
  expect_failures = [var.gateway]
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
