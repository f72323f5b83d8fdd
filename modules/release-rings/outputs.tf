output "rings" {
  description = "Ring => application name, the version its devices were brought to (after a rollout that did not complete: the last one that passed), module sha256 and generation."
  value = { for k, a in wasmbed_application.ring : k => {
    application   = a.name
    version       = a.version
    module_sha256 = a.module_sha256
    generation    = a.generation
  } }
}
