resource "wasmbed_gateway" "north" {
  name      = "north"
  addresses = ["10.0.1.10:8081"]
  labels    = { site = "north" }
  capacity  = 5000
}
