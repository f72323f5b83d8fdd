resource "wasmbed_device" "greenhouse_1" {
  name  = "greenhouse-1"
  board = "stm32f4-discovery"
  labels = {
    site = "greenhouse"
    role = "sensor"
  }
}
