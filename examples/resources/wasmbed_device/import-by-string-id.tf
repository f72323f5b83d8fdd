# A registered device, by name (imports only read from the gateway).
import {
  to = wasmbed_device.greenhouse_1
  id = "greenhouse-1"
}
