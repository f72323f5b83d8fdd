resource "wasmbed_device" "greenhouse_1" {
  name  = "greenhouse-1"
  board = "linux"
}

# The CSR is made where the private key lives (the device, or an HSM);
# only the request and the certificate pass through Terraform. Its subject is
# empty or names the device (CN = greenhouse-1), with no other SANs.
resource "wasmbed_certificate" "greenhouse_1" {
  device              = wasmbed_device.greenhouse_1.name
  csr_pem             = file("${path.module}/greenhouse-1.csr")
  validity_hours      = 24
  early_renewal_hours = 8
}
