variable "name" {
  description = "Application name; each ring's application is <name>-<ring>."
  type        = string
}

variable "rings" {
  description = "Rings in promotion order (e.g. canary, then stable), each with the module version it runs and how many devices may update at once."
  type = list(object({
    name            = string
    version         = string
    module_path     = string
    max_unavailable = optional(number, 1)
  }))

  validation {
    condition     = length(var.rings) > 0 && length(distinct([for r in var.rings : r.name])) == length(var.rings)
    error_message = "Give at least one ring, with distinct names."
  }
}

variable "ring_label" {
  description = "The device label that says which ring a device is in."
  type        = string
  default     = "ring"
}

variable "labels" {
  description = "Labels every selected device must have besides its ring."
  type        = map(string)
  default     = {}
}

variable "boards" {
  description = "Boards allowed (null: any)."
  type        = list(string)
  default     = null
}

variable "config" {
  description = "Configuration for the app, the same in every ring."
  type        = map(string)
  default     = null
}

variable "limits" {
  description = "Limits for the app (fuel, memory, tick_ms)."
  type        = object({ fuel = optional(number), memory = optional(number), tick_ms = optional(number) })
  default     = null
}

variable "wait_for_rollout" {
  description = "Wait on apply until every ring converges."
  type        = bool
  default     = true
}
