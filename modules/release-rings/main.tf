terraform {
  required_version = ">= 1.11"
  required_providers {
    wasmbed = {
      source = "wasmbed/wasmbed"
    }
  }
}

locals {
  rings = { for r in var.rings : r.name => r }
}

# One application per ring, each selecting the devices labelled with that
# ring: promote a version by giving the next ring the canary's version.
resource "wasmbed_application" "ring" {
  for_each         = local.rings
  name             = "${var.name}-${each.key}"
  version          = each.value.version
  module_path      = each.value.module_path
  config           = var.config
  limits           = var.limits
  wait_for_rollout = var.wait_for_rollout

  selector = {
    labels = merge(var.labels, { (var.ring_label) = each.key })
    boards = var.boards
  }

  rollout = {
    strategy        = "batched"
    max_unavailable = each.value.max_unavailable
  }
}
