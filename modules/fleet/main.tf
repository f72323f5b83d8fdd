terraform {
  required_version = ">= 1.11"
  required_providers {
    wasmbed = {
      source = "wasmbed/wasmbed"
    }
  }
}

resource "wasmbed_device" "this" {
  for_each = var.devices
  name     = each.key
  board    = each.value.board
  labels   = each.value.labels
  gateway  = each.value.gateway
}

locals {
  # Devices whose board has an image in firmware_dir get a provisioned copy.
  firmware = var.firmware_dir == null ? {} : {
    for k, d in var.devices : k => "${var.firmware_dir}/${d.board}.elf" if fileexists("${var.firmware_dir}/${d.board}.elf")
  }
}

# One bundle per device. Its one-time enrollment token is minted by the
# provider at apply, and only for a device that has not enrolled yet: plan
# never writes to the gateway, no token is in state, a device has at most the
# token its bundle holds, and destroying the bundle or the device deletes it.
resource "wasmbed_provisioning_bundle" "this" {
  for_each          = var.bundle_dir == null ? {} : wasmbed_device.this
  device            = each.value.name
  gateways          = var.gateway_endpoints
  server_name       = var.server_name
  path              = "${var.bundle_dir}/${each.key}.json"
  token_ttl_seconds = var.token_ttl_seconds
  firmware_image    = lookup(local.firmware, each.key, null)
  firmware_output   = contains(keys(local.firmware), each.key) ? "${var.bundle_dir}/${each.key}.elf" : null
}

resource "wasmbed_application" "this" {
  for_each         = var.applications
  name             = each.key
  version          = each.value.version
  module_path      = each.value.module_path
  config           = each.value.config
  limits           = each.value.limits
  running          = each.value.running
  wait_for_rollout = var.wait_for_rollout

  selector = {
    labels = each.value.labels
    boards = each.value.boards
  }

  rollout = {
    strategy        = each.value.max_unavailable == null ? "all_at_once" : "batched"
    max_unavailable = coalesce(each.value.max_unavailable, 1)
  }

  # Applications roll out to devices that exist.
  depends_on = [wasmbed_device.this, wasmbed_provisioning_bundle.this]
}
