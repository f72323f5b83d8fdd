# The fleet `make demo` applies: three sensor devices and the sensor app.
#
# `make demo` starts a gateway on embedded defaults (its admin token and CA
# root land in .demo/gateway/). Apply writes each device's provisioning bundle
# and a provisioned copy of its board's firmware image (.demo/images/), and
# the demo boots each image under QEMU as soon as it appears, the way a
# factory flashes and powers a device.

terraform {
  required_version = ">= 1.11" # ephemeral resources and write-only arguments
  required_providers {
    wasmbed = {
      source = "wasmbed/wasmbed"
    }
  }
}

variable "gateway_dir" {
  description = "The gateway's data directory (admin.token, ca.crt)."
  type        = string
  default     = "../../.demo/gateway"
}

variable "gateway_api" {
  type    = string
  default = "https://127.0.0.1:8080"
}

variable "device_endpoint" {
  description = "Where devices reach the gateway."
  type        = string
  default     = "127.0.0.1:8081"
}

variable "bundle_dir" {
  description = "Where provisioning bundles are written."
  type        = string
  default     = "../../.demo/bundles"
}

variable "firmware_dir" {
  description = "The boards' firmware images (`make firmware` builds bin/firmware/<board>.elf)."
  type        = string
  default     = "../../bin/firmware"
}

variable "image_dir" {
  description = "Where the provisioned firmware images are written, one per device."
  type        = string
  default     = "../../.demo/images"
}

variable "sensor_version" {
  type    = string
  default = "1.0.0"
}

provider "wasmbed" {
  endpoint = var.gateway_api
  token    = trimspace(file("${var.gateway_dir}/admin.token"))
  ca_cert  = file("${var.gateway_dir}/ca.crt")
}

locals {
  devices = {
    "greenhouse-1" = { board = "stm32f4-discovery", zone = "north" }
    "greenhouse-2" = { board = "mps2-an386", zone = "north" }
    "greenhouse-3" = { board = "mps2-an386", zone = "south" }
  }
}

resource "wasmbed_device" "sensor" {
  for_each = local.devices
  name     = each.key
  board    = each.value.board
  labels = {
    role = "sensor"
    zone = each.value.zone
  }
}

# Each bundle holds a one-time enrollment token, minted at apply for a device
# that has not enrolled yet (never at plan, never in state).
resource "wasmbed_provisioning_bundle" "sensor" {
  for_each          = wasmbed_device.sensor
  device            = each.value.name
  gateways          = [var.device_endpoint]
  server_name       = "localhost"
  path              = "${var.bundle_dir}/${each.key}.json"
  token_ttl_seconds = 3600

  # A flashable image per device: the board's firmware with this bundle in it.
  firmware_image  = "${var.firmware_dir}/${each.value.board}.elf"
  firmware_output = "${var.image_dir}/${each.key}.elf"
}

resource "wasmbed_application" "sensor" {
  name        = "sensor"
  version     = var.sensor_version
  module_path = "${path.module}/../../bin/apps/sensor.wasm"
  config      = { offset = "20" }
  limits      = { tick_ms = 1000 }
  selector    = { labels = { role = "sensor" } }

  timeouts = {
    create = "3m"
    update = "3m"
  }

  # The devices join once their images exist; the rollout waits for them.
  depends_on = [wasmbed_provisioning_bundle.sensor]
}

output "devices" {
  value = { for k, d in wasmbed_device.sensor : k => d.board }
}

output "application" {
  value = "${wasmbed_application.sensor.name} ${wasmbed_application.sensor.version} (generation ${wasmbed_application.sensor.generation})"
}
