# A token for a CI pipeline that deploys applications: it may change the
# fleet, not gateways or other tokens. Bump `rotate_when_changed` to rotate
# it; the old secret keeps working for an hour while the pipeline switches.
resource "wasmbed_api_token" "ci" {
  name                = "ci-deployer"
  role                = "operator"
  description         = "CI pipeline: uploads modules, updates applications"
  ttl_seconds         = 90 * 24 * 3600
  rotate_when_changed = { quarter = "2026-Q4" }
  grace_seconds       = 3600
}

# A read-only token for a dashboard.
resource "wasmbed_api_token" "dashboard" {
  name = "dashboard"
  role = "reader"
}

output "ci_token" {
  value     = wasmbed_api_token.ci.token
  sensitive = true
}
