variable "site" {
  description = "Site name: the value of the site label on the gateway and on every device, and the gateway's name unless `gateway.name` is set."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", var.site))
    error_message = "The site name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit."
  }
}

variable "gateway" {
  description = "The site's gateway, registered as `wasmbed_gateway`: `name` (default: the site name), `addresses` (`host:port` where the site's devices reach it; also written into their bundles), `labels` (the site label is added) and `capacity` (device sessions it is meant to hold, 0: no limit). A gateway that registered itself on first start must be imported first (see the README)."
  type = object({
    name      = optional(string)
    addresses = list(string)
    labels    = optional(map(string), {})
    capacity  = optional(number, 0)
  })

  validation {
    condition     = length(var.gateway.addresses) > 0 && alltrue([for a in var.gateway.addresses : can(regex("^([^\\s:\\[\\]]+|\\[[0-9A-Fa-f:.]+\\]):([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$", a))])
    error_message = "gateway.addresses: at least one, each host:port, the port 1 to 65535 (an IPv6 host in brackets)."
  }
  validation {
    condition     = var.gateway.name == null || can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", coalesce(var.gateway.name, "-")))
    error_message = "gateway.name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit."
  }
}

variable "devices" {
  description = "The site's devices by name: `board`, optionally `ring` (pins the device to a ring; otherwise `rings` assigns one) and `labels` of its own."
  type = map(object({
    board  = string
    ring   = optional(string)
    labels = optional(map(string), {})
  }))
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for n in keys(var.devices) : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", n))])
    error_message = "Device names are 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit."
  }
  validation {
    condition     = length(var.rings) == 0 || alltrue([for d in values(var.devices) : d.ring == null || contains([for r in var.rings : r.name], coalesce(d.ring, "-"))])
    error_message = "A device's ring must be one of the rings given in rings."
  }
}

variable "rings" {
  description = "Release rings in promotion order (the rings of `modules/release-rings`), each taking `per_board` devices of every board: the devices of a board that have no ring of their own, in name order, fill the first ring, then the next; the last ring takes the rest (its `per_board` is ignored). Empty: only devices that set a ring get a ring label."
  type = list(object({
    name      = string
    per_board = optional(number)
  }))
  default  = []
  nullable = false

  validation {
    condition     = length(distinct([for r in var.rings : r.name])) == length(var.rings) && alltrue([for r in var.rings : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", r.name))])
    error_message = "Ring names are distinct, each 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit."
  }
  validation {
    condition     = alltrue([for i, r in var.rings : i == length(var.rings) - 1 || (r.per_board != null && try(r.per_board >= 0 && floor(r.per_board) == r.per_board, false))])
    error_message = "Every ring but the last needs per_board, a whole number of devices per board (0 or more)."
  }
}

variable "labels" {
  description = "Labels every device of the site gets besides its own; the site, board and ring labels override both."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "site_label" {
  description = "The label that says which site a device (and the gateway) is at."
  type        = string
  default     = "site"
}

variable "board_label" {
  description = "The label that repeats a device's board, for selectors by label."
  type        = string
  default     = "board"
}

variable "ring_label" {
  description = "The label that says which ring a device is in (`ring_label` of `modules/release-rings`)."
  type        = string
  default     = "ring"
}

variable "bundle_dir" {
  description = "Directory for the devices' provisioning bundles (`<name>.json`), pointing at the site's gateway addresses; null writes none."
  type        = string
  default     = null
}

variable "server_name" {
  description = "Name the gateway's certificate carries, if not the host devices dial; written into the bundles."
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
  description = "Validity of the enrollment tokens the bundles hold, in seconds."
  type        = number
  default     = 86400
}
