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
  # Progressive (steps) unless the steps are emptied: then every device of
  # the ring is updated in batches, with no health gates.
  progressive = length(var.rollout.steps) > 0
}

# One application per ring, each selecting the devices labelled with that
# ring: promote a version by giving the next ring the canary's version.
# Within a ring, a new version rolls out by steps under health gates and
# is rolled back (or paused) when devices fail.
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
    steps           = local.progressive ? var.rollout.steps : null
    canary          = local.progressive ? var.rollout.canary : null
    bake_seconds    = local.progressive ? var.rollout.bake_seconds : null
    step_failures   = local.progressive ? var.rollout.step_failures : null
    total_failures  = local.progressive ? var.rollout.total_failures : null
    health          = local.progressive ? var.rollout.health : null
    on_failure      = local.progressive ? var.rollout.on_failure : null
  }

  timeouts = {
    create = var.timeout
    update = var.timeout
  }
}
