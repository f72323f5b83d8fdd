output "devices" {
  description = "Registered devices: name => board."
  value       = { for k, d in wasmbed_device.this : k => d.board }
}

output "bundles" {
  description = "Provisioning bundle files: device => path."
  value       = { for k, b in wasmbed_provisioning_bundle.this : k => b.path }
}

output "applications" {
  description = "Applications: name => version and generation."
  value       = { for k, a in wasmbed_application.this : k => { version = a.version, generation = a.generation, sha256 = a.module_sha256 } }
}

output "firmware_images" {
  description = "Provisioned firmware images: device => path (devices whose board has an image in firmware_dir)."
  value       = { for k, b in wasmbed_provisioning_bundle.this : k => b.firmware_output if b.firmware_output != null }
}
