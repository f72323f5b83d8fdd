# Point the provider at a gateway's management API. The token can also come
# from WASMBED_TOKEN, the CA certificate from the file named by
# WASMBED_CA_CERT_FILE.
provider "wasmbed" {
  endpoint = "https://127.0.0.1:8080"
  token    = var.wasmbed_token
  ca_cert  = file("ca.crt")
}

variable "wasmbed_token" {
  type      = string
  sensitive = true
}
