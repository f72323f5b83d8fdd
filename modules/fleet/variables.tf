variable "devices" {
  description = "Devices by name: board, labels, and optionally the gateway they belong to."
  type = map(object({
    board   = string
    labels  = optional(map(string), {})
    gateway = optional(string)
  }))
  default = {}

  validation {
    condition     = alltrue([for n in keys(var.devices) : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", n))])
    error_message = "Device names are 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit."
  }
}

variable "applications" {
  description = "Applications by name: module file, version, the labels (and boards) of the devices they run on, config and limits; max_unavailable makes the rollout batched."
  type = map(object({
    version         = string
    module_path     = string
    labels          = optional(map(string), {})
    boards          = optional(list(string))
    config          = optional(map(string))
    limits          = optional(object({ fuel = optional(number), memory = optional(number), tick_ms = optional(number) }))
    running         = optional(bool, true)
    max_unavailable = optional(number)
  }))
  default = {}
}

variable "gateway_endpoints" {
  description = "Where devices reach their gateway (host:port), written into their bundles."
  type        = list(string)
  default     = []
}

variable "server_name" {
  description = "Name the gateway's certificate carries, if not the host devices dial."
  type        = string
  default     = null
}

variable "bundle_dir" {
  description = "Directory for the devices' provisioning bundles (`<name>.json`); null writes none."
  type        = string
  default     = null
}

variable "firmware_dir" {
  description = "Directory of firmware images named `<board>.elf` (as `make firmware` builds them in bin/firmware); each device whose board has one also gets a provisioned copy, `<bundle_dir>/<name>.elf`, ready to flash. Needs bundle_dir and server_name. Null writes none."
  type        = string
  default     = null
  validation {
    condition     = var.firmware_dir == null || (var.bundle_dir != null && var.server_name != null)
    error_message = "firmware_dir needs bundle_dir (where the images go) and server_name (the firmware checks the gateway's certificate against a DNS name)."
  }
}

variable "token_ttl_seconds" {
  description = "Validity of the enrollment tokens in the bundles."
  type        = number
  default     = 86400
}

variable "wait_for_rollout" {
  description = "Wait on apply until every selected device runs each application."
  type        = bool
  default     = true
}
