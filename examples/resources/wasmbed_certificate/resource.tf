# The CSR is made where the private key lives (the device, or an HSM);
# only the request and the certificate pass through Terraform.
resource "wasmbed_certificate" "greenhouse_1" {
  device              = wasmbed_device.greenhouse_1.name
  csr_pem             = file("${path.module}/greenhouse-1.csr")
  validity_hours      = 24
  early_renewal_hours = 8
}
