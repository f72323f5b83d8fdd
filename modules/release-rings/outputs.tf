output "rings" {
  description = "Ring => application name, version and generation."
  value = { for k, a in wasmbed_application.ring : k => {
    application = a.name
    version     = a.version
    generation  = a.generation
  } }
}
