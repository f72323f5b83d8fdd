variable "name" {
  description = "Application name; each ring's application is `<name>-<ring>`."
  type        = string
}

variable "rings" {
  description = "Rings in promotion order (e.g. canary, then stable), each with the module version it runs and how many devices may update at once within a step."
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

variable "rollout" {
  description = "How a new version rolls out within each ring (see wasmbed_application's rollout): cumulative steps (devices or percent of the ring), a bake time per step under health gates, failure thresholds, and on_failure = rollback (bring the devices that took the version back to the last one that passed) or pause. The defaults: 1 device, then 10 %, 50 % and 100 % of the ring, each baked 60 s, one failed device rolls back. Empty steps: no steps, no health gates (and the other fields are ignored)."
  type = object({
    steps = optional(list(object({
      devices      = optional(number)
      percent      = optional(number)
      bake_seconds = optional(number)
    })), [{ devices = 1 }, { percent = 10 }, { percent = 50 }, { percent = 100 }])
    canary         = optional(map(string))
    bake_seconds   = optional(number, 60)
    step_failures  = optional(object({ count = optional(number), percent = optional(number) }))
    total_failures = optional(object({ count = optional(number), percent = optional(number) }))
    health = optional(object({
      key             = string
      min             = optional(number)
      max             = optional(number)
      max_age_seconds = optional(number)
    }))
    on_failure = optional(string, "rollback")
  })
  default  = {}
  nullable = false

  validation {
    condition     = contains(["rollback", "pause"], var.rollout.on_failure)
    error_message = "rollout.on_failure must be \"rollback\" or \"pause\"."
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
  description = "Wait on apply until each ring's rollout completes, failing (without tainting) with the step, the devices and why when it rolls back or pauses."
  type        = bool
  default     = true
}

variable "timeout" {
  description = "How long apply waits for a ring's rollout (create and update): long enough for every step and its bake."
  type        = string
  default     = "30m"
}
