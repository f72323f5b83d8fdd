output "gateway_id" {
  description = "The registered gateway's id (its name), for `wasmbed_device.gateway` of devices added outside the module."
  value       = wasmbed_gateway.this.id
}

output "gateway_addresses" {
  description = "Where the site's devices reach the gateway (host:port), as registered and written into the bundles."
  value       = wasmbed_gateway.this.addresses
}

output "site_labels" {
  description = "The label that selects the site's devices (`{ <site_label> = <site> }`): `labels` of `modules/release-rings` or an application's selector, for an app on this site only."
  value       = local.site_labels
}

output "devices" {
  description = "Registered devices: name => `board`, `ring` (null when in none) and `labels` as the gateway holds them."
  value = { for n, d in wasmbed_device.this : n => {
    board  = d.board
    ring   = local.rings[n]
    labels = d.labels
  } }
}

output "devices_by_board" {
  description = "Device names by board, sorted."
  value       = { for b in local.boards : b => sort([for n, d in wasmbed_device.this : n if d.board == b]) }
}

output "devices_by_ring" {
  description = "Device names by ring, sorted: every ring of `rings` (an empty list for a ring with no device) and any ring a device sets."
  value = { for r in distinct(concat([for r in var.rings : r.name], sort(compact(values(local.rings))))) :
    r => sort([for n, d in wasmbed_device.this : n if local.rings[n] == r])
  }
}

output "bundles" {
  description = "Provisioning bundle files: device => path (empty without bundle_dir)."
  value       = { for n, b in wasmbed_provisioning_bundle.this : n => b.path }
}

output "firmware_images" {
  description = "Provisioned firmware images: device => path (devices whose board has an image in firmware_dir)."
  value       = { for n, b in wasmbed_provisioning_bundle.this : n => b.firmware_output if b.firmware_output != null }
}
