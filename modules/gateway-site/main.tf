terraform {
  required_version = ">= 1.11"
  required_providers {
    wasmbed = {
      source = "wasmbed/wasmbed"
    }
  }
}

locals {
  site_labels = { (var.site_label) = var.site }
  boards      = sort(distinct([for d in values(var.devices) : d.board]))

  # Rings by board: each ring takes per_board devices of every board from
  # those without a ring of their own, in name order; the last takes the
  # rest. ring_ends[k] is where ring k's share of a board ends.
  ring_ends = [for k, r in var.rings :
    k == length(var.rings) - 1 ? length(var.devices) + 1 : sum([for j in range(k + 1) : coalesce(var.rings[j].per_board, 0)])
  ]
  unpinned = { for b in local.boards : b => sort([for n, d in var.devices : n if d.board == b && d.ring == null]) }
  assigned = merge({}, [for b, names in local.unpinned : {
    for i, n in names : n => [for k, r in var.rings : r.name if i < local.ring_ends[k]][0] if length(var.rings) > 0
  }]...)
  rings = { for n, d in var.devices : n => d.ring != null ? d.ring : lookup(local.assigned, n, null) }

  labels = { for n, d in var.devices : n => merge(
    var.labels,
    d.labels,
    local.site_labels,
    { (var.board_label) = d.board },
    local.rings[n] == null ? {} : { (var.ring_label) = local.rings[n] },
  ) }

  # Devices whose board has an image in firmware_dir get a provisioned copy.
  firmware = var.firmware_dir == null ? {} : {
    for n, d in var.devices : n => "${var.firmware_dir}/${d.board}.elf" if fileexists("${var.firmware_dir}/${d.board}.elf")
  }
}

resource "wasmbed_gateway" "this" {
  name      = coalesce(var.gateway.name, var.site)
  addresses = var.gateway.addresses
  labels    = merge(var.gateway.labels, local.site_labels)
  capacity  = var.gateway.capacity
}

# Each device belongs to the site's gateway: its id is unknown until the
# gateway exists, so the provider's plan-time check that the gateway is
# registered waits for it.
resource "wasmbed_device" "this" {
  for_each = var.devices
  name     = each.key
  board    = each.value.board
  labels   = local.labels[each.key]
  gateway  = wasmbed_gateway.this.id
}

# One bundle per device, pointing at the site's gateway. Its one-time
# enrollment token is minted by the provider at apply, only for a device that
# has not enrolled yet, and reaches the file only (see modules/fleet).
resource "wasmbed_provisioning_bundle" "this" {
  for_each          = var.bundle_dir == null ? {} : wasmbed_device.this
  device            = each.value.name
  gateways          = wasmbed_gateway.this.addresses
  server_name       = var.server_name
  path              = "${var.bundle_dir}/${each.key}.json"
  token_ttl_seconds = var.token_ttl_seconds
  firmware_image    = lookup(local.firmware, each.key, null)
  firmware_output   = contains(keys(local.firmware), each.key) ? "${var.bundle_dir}/${each.key}.elf" : null
}
